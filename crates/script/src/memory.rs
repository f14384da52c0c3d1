//! What a run's script holds, counted on its own thread.
//!
//! Rhai bounds each string, array and map, not what a script holds in all of them. The
//! process's resident memory cannot say which run holds it: it counts a sweep's other runs,
//! and memory an earlier scenario freed that the allocator has not yet given back, so a
//! harmless scenario replayed after a greedy one was stopped in its place. With [`Counting`]
//! as the binary's global allocator (the CLI installs it), every thread keeps the bytes it
//! has allocated and not freed, and a run is measured from what its thread held when its
//! engine was built: the same script stops at the same operation whatever runs beside it.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

/// The system allocator, counting each thread's live bytes.
pub struct Counting;

thread_local! {
    // Const-initialised and without a destructor: safe to touch from inside the allocator.
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

static INSTALLED: AtomicBool = AtomicBool::new(false);

fn add(bytes: isize) {
    let _ = LIVE.try_with(|c| c.set(c.get().wrapping_add(bytes)));
}

fn installed() {
    // A load of a line nobody writes after the first allocation: no traffic between cores.
    if !INSTALLED.load(Ordering::Relaxed) {
        INSTALLED.store(true, Ordering::Relaxed);
    }
}

// SAFETY: every call is passed to `System` unchanged; the counting touches only a
// thread-local `Cell` that needs no allocation and has no destructor.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            installed();
            add(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            installed();
            add(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        add(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            add(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// The bytes this thread has allocated and not freed, where [`Counting`] is the global
/// allocator; None where it is not (a library user's binary, this crate's tests).
pub fn thread_live_bytes() -> Option<isize> {
    INSTALLED
        .load(Ordering::Relaxed)
        .then(|| LIVE.try_with(Cell::get).unwrap_or(0))
}
