//! The mixer's tick does not allocate once members are added (talkers coming and going, mute, deaf,
//! missing frames, events drained each tick).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use chorus_rtp::conference::{MemberId, Mixer, MixerConfig};

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
fn ticks_do_not_allocate() {
    let mut mixer = Mixer::new(MixerConfig::default());
    for i in 0..20u64 {
        mixer
            .add_member(MemberId(i), if i % 2 == 0 { 8000 } else { 16000 })
            .unwrap();
    }
    let loud8 = [8000i16; 160];
    let loud16 = [-8000i16; 320];
    let quiet = [0i16; 320];
    COUNT.with(|c| c.set(Some(0)));
    for t in 0..1000u64 {
        for i in 0..20u64 {
            if (t + i) % 11 == 0 {
                continue; // a missing frame
            }
            let talking = (t / 50 + i) % 4 == 0;
            let frame: &[i16] = match (i % 2 == 0, talking) {
                (true, true) => &loud8,
                (false, true) => &loud16,
                (_, false) => &quiet,
            };
            mixer.push(MemberId(i), frame).unwrap();
        }
        if t % 100 == 0 {
            let _ = mixer.set_muted(MemberId(t / 100), t % 200 == 0);
            let _ = mixer.set_deaf(MemberId(t / 100 + 1), t % 300 == 0);
        }
        mixer.set_overlay(&quiet);
        mixer.tick();
        for i in 0..20u64 {
            std::hint::black_box(mixer.output(MemberId(i)));
        }
        while mixer.poll_event().is_some() {}
    }
    let allocations = COUNT.with(|c| c.replace(None)).unwrap();
    assert_eq!(allocations, 0);
}
