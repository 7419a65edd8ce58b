//! The hot path does not allocate: after construction, pushing and popping (including duplicates,
//! late packets, loss and resyncs) never touches the allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use chorus_rtp::jitter::{JitterBuffer, JitterConfig};

struct Counting;

thread_local! {
    static COUNT: Cell<Option<u64>> = const { Cell::new(None) };
}

// SAFETY: defers to the system allocator; the counter only observes calls on this thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get().map(|n| n + 1)));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn push_and_pop_do_not_allocate() {
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let t0 = Instant::now();
    let payload = [0x7Fu8; 160];
    COUNT.with(|c| c.set(Some(0)));
    for i in 0..2000u32 {
        let now = t0 + Duration::from_millis(20 * u64::from(i));
        let (seq, ts) = (i as u16, i * 160);
        if i % 17 != 0 {
            let _ = jb.push(now, seq, ts, 1 + i / 500, i % 100 == 0, &payload);
        }
        if i % 13 == 0 {
            let _ = jb.push(now, seq, ts, 1 + i / 500, false, &payload); // duplicate
        }
        if i % 29 == 0 && i > 10 {
            let _ = jb.push(now, seq - 10, ts - 1600, 1 + i / 500, false, &payload);
            // late
        }
        let _ = jb.pop(now);
    }
    let allocations = COUNT.with(|c| c.replace(None)).unwrap();
    assert_eq!(allocations, 0);
    let st = jb.stats();
    assert!(
        st.lost > 0 && st.duplicates > 0 && st.late > 0 && st.resyncs > 0,
        "{st:?}"
    );
}
