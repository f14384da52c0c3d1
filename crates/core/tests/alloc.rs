//! The step loop allocates nothing: a counting allocator watches a year of steps on the
//! real world after the first step has sized everything.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;

struct Counting;

// Per thread: the tests run side by side and count only their own allocations.
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATIONS.try_with(|a| a.set(a.get() + 1));
    }
}

fn counting(on: bool) {
    COUNTING.with(|c| c.set(on));
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[path = "common/mod.rs"]
mod common;

#[test]
fn a_year_of_steps_allocates_nothing() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/world-2024.yaml");
    let model = Arc::new(chokepoint_core::load(&p).unwrap());
    let mut sim = chokepoint_core::Sim::new(&model, 1);
    sim.step();
    counting(true);
    for _ in 0..52 {
        sim.step();
    }
    counting(false);
    assert_eq!(allocations(), 0, "allocations in the step loop");
    // The counter counts: one box is one allocation.
    counting(true);
    let b = std::hint::black_box(Box::new(sim.step));
    counting(false);
    drop(b);
    assert_eq!(allocations(), 1);
}

/// A year of steps under a licence put in force at the start (its tables are built at the
/// first step, an event); returns the run and the allocations the year made.
fn a_year_licensed(d: chokepoint_core::model_file::PolicyDef) -> (chokepoint_core::Sim, usize) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/world-2024.yaml");
    let model = Arc::new(chokepoint_core::load(&p).unwrap());
    let mut sim = chokepoint_core::Sim::new(&model, 1);
    common::add(&mut sim, d);
    sim.step();
    let before = allocations();
    counting(true);
    for _ in 0..52 {
        sim.step();
    }
    counting(false);
    let made = allocations() - before;
    (sim, made)
}

#[test]
fn a_year_under_licences_allocates_nothing_once_they_are_in_force() {
    // No. 18's shape: seven elements and the magnets containing them licensed to every
    // foreign buyer, half approved, 63 days' review: the queue fills and drains every step.
    let mut d = common::def("export_licence", "CN");
    d.elements = common::strs(&["Sm", "Gd", "Tb", "Dy", "Lu", "Sc", "Y"]);
    d.approval = Some(0.5);
    d.delay_days = Some(63.0);
    let (sim, made) = a_year_licensed(d);
    assert_eq!(made, 0, "allocations in the step loop under licences");
    // The licences did bite: shipments wait in the queue.
    let col = sim.series.find("licence_queue", "CN").unwrap();
    let queued = sim.series.get(sim.series.steps - 1, col);
    assert!(queued > 100.0, "{queued} t in the licence queue");
}

#[test]
fn a_long_licence_review_on_everything_allocates_nothing_either() {
    // The queue's worst case: every element and form, every foreign buyer, half a year's
    // review (26 steps of shipments waiting at once).
    let mut d = common::def("export_licence", "CN");
    d.approval = Some(0.9);
    d.delay_days = Some(182.0);
    let (_, made) = a_year_licensed(d);
    assert_eq!(made, 0, "allocations in the step loop under a long review");
}
