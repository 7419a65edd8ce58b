//! Dialplan costs (issue 4): loading and validating a 1,000-route file, the interpreter's overhead per
//! step, and prompt sharing between calls.
//!
//! - `load_validate_1000_routes`: [`Dialplan::load`] of a generated file of 1,000 routes (eight kinds:
//!   play, collect + if + say_digits, goto a menu, barge-in play + menu, set + switch, record, conference
//!   with a capture, time condition + transfer) and 40 menus, with the repo's `prompts/` so every prompt
//!   name is checked against a file. `parse_validate_1000_routes` is the same from memory (no file read).
//! - `step_<kind>`: [`run`] of a route of 1,000 steps of one kind against [`NoopCall`], a [`CallMedia`]
//!   whose every method returns at once; criterion's time divided by 1,000 is the overhead per step.
//!   `run_empty_route` is the fixed cost of one run (one `answer` step plus the final hang-up).
//! - `prompt_cache_hit`: [`PromptCache::get`] of a prompt already decoded (what each call playing it
//!   pays); `prompt_decode_hello`: the first `get`, reading and decoding `prompts/hello.wav`.
//!
//! Before criterion runs it prints what 500 calls playing `hello` hold: one decoded copy (asserted with
//! `Arc::ptr_eq`), its size, the heap growth for the 500 handles (a counting allocator), and allocations
//! per interpreter step.
//!
//! `cargo bench --bench dialplan -- --warm-up-time 1 --measurement-time 3`

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::future::Future;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use chorus_dialplan::interpreter::{run, CallMedia, MediaError};
use chorus_dialplan::{Dialplan, HangupReason, Prompt, PromptCache};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// The system allocator, counting allocations and live bytes.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counters have no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A call whose media operations all succeed at once: what is left is the interpreter's own cost.
struct NoopCall {
    answered: bool,
}

impl CallMedia for NoopCall {
    async fn answer(&mut self) -> Result<(), MediaError> {
        self.answered = true;
        Ok(())
    }
    async fn ring(&mut self) -> Result<(), MediaError> {
        Ok(())
    }
    async fn play(&mut self, prompt: &Prompt) -> Result<(), MediaError> {
        black_box(prompt);
        Ok(())
    }
    async fn echo(&mut self, _max: Option<Duration>) -> Result<(), MediaError> {
        Ok(())
    }
    async fn pause(&mut self, _d: Duration) -> Result<(), MediaError> {
        Ok(())
    }
    async fn hangup(&mut self) {}
    async fn hangup_with(&mut self, _reason: HangupReason) {}
    fn is_answered(&self) -> bool {
        self.answered
    }
    fn sample_rate(&self) -> u32 {
        8000
    }
}

/// Polls `f` once: [`NoopCall`] never waits, so a run completes in one poll.
fn run_now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a no-op call never waits"),
    }
}

fn prompts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts")
}

/// A dialplan of `routes` routes over eight kinds and 40 menus, naming only prompts in `prompts/`.
fn big_dialplan(routes: usize) -> String {
    let mut y = String::from("utc_offset: '+01:00'\n\nmenus:\n");
    for m in 0..40 {
        let _ = write!(
            y,
            "  m{m:02}:
    prompt: menu
    timeout: 5s
    tries: 3
    invalid: invalid
    no_input: no-input
    choices:
      1: [{{play: goodbye}}, hangup]
      2: [{{play: transferring}}, {{transfer: 'sip:desk{m}@pbx.example.com'}}]
      3: {{conference: 'menu-{m}'}}
      9: {{goto: m{m:02}}}
    on_failure: [{{play: goodbye}}, hangup]
"
        );
    }
    y.push_str("\nroutes:\n");
    for i in 0..routes {
        let m = i % 40;
        let _ = writeln!(y, "  - name: r{i:04}");
        let steps = match i % 8 {
            0 => format!(
                "    match: 'r{i:04}'\n    steps: [answer, {{play: [welcome, hello]}}, hangup]\n"
            ),
            1 => format!(
                "    match: 'r{i:04}'
    steps:
      - answer
      - collect: {{into: digits, prompt: enter-digits, max: 10, terminators: '#', digit_timeout: 5s, tries: 2}}
      - if: {{var: digits, empty: false}}
        then:
          - play: you-entered
          - say_digits: '{{digits}}'
      - hangup
"
            ),
            2 => format!("    match: 'r{i:04}'\n    steps: [answer, {{goto: m{m:02}}}]\n"),
            3 => format!(
                "    match: 'r{i:04}'
    steps:
      - answer
      - play: {{prompt: welcome, barge_in: true}}
      - menu: m{m:02}
      - hangup
"
            ),
            4 => format!(
                "    match: 'r{i:04}-(?P<lang>en|fr)'
    steps:
      - set: {{greeting: 'hello', caller: '{{route}}-{{lang}}'}}
      - switch: lang
        cases:
          en: [{{play: hello}}]
          fr: [{{play: welcome}}]
        default: [{{play: invalid}}]
      - say_number: '{i}'
      - hangup
"
            ),
            5 => format!(
                "    match: 'r{i:04}'
    steps:
      - answer
      - play: record-after-beep
      - record: {{name: 'vm-{i}-{{timestamp}}', max: 2m, silence: 5s, terminators: '#', into: message}}
      - if: {{var: message, empty: true}}
        then: {{play: vm-failed}}
        else: {{play: vm-saved}}
      - hangup
"
            ),
            6 => format!(
                "    match: 'conf-{i:04}-(?P<room>[0-9]+)'
    steps:
      - answer
      - conference: {{room: '{{room}}', full: room-full}}
"
            ),
            _ => format!(
                "    match: 'r{i:04}'
    steps:
      - if: {{time: ['Mon-Fri 09:00-17:00']}}
        then: {{transfer: 'sip:office{i}@pbx.example.com'}}
        else: [{{play: company-closed}}, {{pause: 1s}}, hangup]
"
            ),
        };
        y.push_str(&steps);
    }
    y
}

/// A route of `n` steps, each `step` (YAML flow syntax), behind one `answer`.
fn repeated(step: &str, n: usize) -> String {
    let mut y =
        String::from("routes:\n  - name: steps\n    match: steps\n    steps:\n      - answer\n");
    for _ in 0..n {
        let _ = writeln!(y, "      - {step}");
    }
    y
}

fn load(c: &mut Criterion) {
    let text = big_dialplan(1000);
    let dir = std::env::temp_dir().join(format!("chorus-bench-dialplan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("routes-1000.yaml");
    std::fs::write(&path, &text).expect("write the generated dialplan");
    let prompts = prompts_dir();
    let plan = match Dialplan::load(&path, Some(&prompts)) {
        Ok(p) => p,
        Err(errors) => {
            for e in errors.iter().take(10) {
                eprintln!("{e}");
            }
            panic!("the generated dialplan has {} errors", errors.len());
        }
    };
    assert_eq!(plan.routes.len(), 1000);
    assert!(plan.route("r0999").is_some() && plan.route("conf-0006-42").is_some());
    println!(
        "dialplan/load_validate_1000_routes: {} bytes, {} lines of YAML",
        text.len(),
        text.lines().count()
    );

    let mut group = c.benchmark_group("dialplan");
    group.sample_size(20);
    group.bench_function("load_validate_1000_routes", |b| {
        b.iter(|| Dialplan::load(black_box(&path), Some(&prompts)).map(|p| p.routes.len()))
    });
    group.bench_function("parse_validate_1000_routes", |b| {
        b.iter(|| {
            Dialplan::parse("routes-1000.yaml", black_box(&text), Some(&prompts))
                .map(|p| p.routes.len())
        })
    });
    // Matching a call to the last of 1,000 routes (regexes tried in order).
    group.sample_size(100);
    group.bench_function("route_match_last_of_1000", |b| {
        b.iter(|| plan.find(black_box("r0999")).map(|(i, _)| i))
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

const STEPS: usize = 1000;

fn interpreter(c: &mut Criterion) {
    let prompts = PromptCache::new(prompts_dir());
    let kinds = [
        ("answer", "answer"),
        ("set", "set: {x: '{route}-1'}"),
        (
            "if",
            "if: {var: route, equals: steps}\n        then: [answer]",
        ),
        ("play", "play: hello"),
    ];
    let mut group = c.benchmark_group("dialplan");
    let empty = Dialplan::parse("empty.yaml", &repeated("answer", 0), None).expect("valid");
    group.bench_function("run_empty_route", |b| {
        b.iter(|| {
            let mut call = NoopCall { answered: false };
            run_now(run(&empty.routes[0], &prompts, &mut call))
        })
    });
    group.throughput(Throughput::Elements(STEPS as u64));
    for (name, step) in kinds {
        let plan = Dialplan::parse("steps.yaml", &repeated(step, STEPS), Some(&prompts_dir()))
            .expect("valid");
        let route = &plan.routes[0];
        let mut one = || {
            let mut call = NoopCall { answered: false };
            run_now(run(route, &prompts, &mut call))
        };
        assert_eq!(
            one(),
            chorus_dialplan::Outcome::DialplanHungUp(HangupReason::Normal)
        );
        let before = ALLOCS.load(Ordering::Relaxed);
        for _ in 0..10 {
            black_box(one());
        }
        let per_step = (ALLOCS.load(Ordering::Relaxed) - before) as f64 / (10 * STEPS) as f64;
        println!("dialplan/step_{name}: {per_step:.2} allocations per step");
        group.bench_function(format!("step_{name}_x{STEPS}"), |b| b.iter(&mut one));
    }
    group.finish();
}

fn prompt_sharing(c: &mut Criterion) {
    const CALLS: usize = 500;
    let cache = PromptCache::new(prompts_dir());
    let first = cache.get("hello", 8000).expect("prompts/hello.wav");
    let live0 = LIVE.load(Ordering::Relaxed);
    let allocs0 = ALLOCS.load(Ordering::Relaxed);
    let calls: Vec<Arc<Prompt>> = (0..CALLS)
        .map(|_| cache.get("hello", 8000).expect("cached"))
        .collect();
    let handle_allocs = ALLOCS.load(Ordering::Relaxed) - allocs0;
    let grown = LIVE.load(Ordering::Relaxed) - live0;
    assert!(calls
        .iter()
        .all(|p| Arc::ptr_eq(p, &first) && Arc::ptr_eq(&p.samples, &first.samples)));
    assert_eq!(
        Arc::strong_count(&first),
        CALLS + 2,
        "cache + first + 500 calls"
    );
    let bytes = std::mem::size_of_val(&*first.samples);
    println!(
        "dialplan/prompt_sharing: {CALLS} gets of 'hello' at 8 kHz share one copy: {} samples = {bytes} bytes \
         ({:.2} s); per call an Arc<Prompt> of {} bytes; heap growth for the {CALLS} handles {grown} bytes \
         (the Vec holding them: {} bytes), {handle_allocs} allocations in the {CALLS} gets",
        first.samples.len(),
        first.samples.len() as f64 / 8000.0,
        std::mem::size_of::<Arc<Prompt>>(),
        CALLS * std::mem::size_of::<Arc<Prompt>>(),
    );
    drop(calls);

    let mut group = c.benchmark_group("dialplan");
    group.bench_function("prompt_cache_hit", |b| {
        b.iter(|| cache.get(black_box("hello"), 8000).map(|p| p.samples.len()))
    });
    group.sample_size(20);
    group.bench_function("prompt_decode_hello", |b| {
        b.iter(|| {
            PromptCache::new(prompts_dir())
                .get(black_box("hello"), 8000)
                .map(|p| p.samples.len())
        })
    });
    group.finish();
}

criterion_group!(benches, load, interpreter, prompt_sharing);
criterion_main!(benches);
