//! The step loop allocates nothing: a counting allocator watches a year of steps on the
//! real world after the first step has sized everything.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_year_of_steps_allocates_nothing() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/world-2024.yaml");
    let model = Arc::new(chokepoint_core::load(&p).unwrap());
    let mut sim = chokepoint_core::Sim::new(&model, 1);
    sim.step();
    COUNTING.store(true, Ordering::Relaxed);
    for _ in 0..52 {
        sim.step();
    }
    COUNTING.store(false, Ordering::Relaxed);
    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed),
        0,
        "allocations in the step loop"
    );
    // The counter counts: one box is one allocation.
    COUNTING.store(true, Ordering::Relaxed);
    let b = std::hint::black_box(Box::new(sim.step));
    COUNTING.store(false, Ordering::Relaxed);
    drop(b);
    assert_eq!(ALLOCATIONS.load(Ordering::Relaxed), 1);
}
