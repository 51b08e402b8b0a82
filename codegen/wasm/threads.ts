// Threads inside one wasm module: every thread (the caller's and each worker's instance, all on
// one shared memory) runs the same `run`, kernel after kernel. A kernel that partitions its
// iteration space (KernelContext.part) runs on every thread, each on its share of the outputs;
// any other runs on thread 0 alone. Between kernels a barrier on wasm atomics (a count and a
// generation word in the control block), so no message passes per kernel. Outputs never depend
// on the thread count: a share is a set of whole outputs, each computed by the same code.
//
// Exports besides `run`: `thread(id, count, mayWait)` sets the instance's thread (globals, so one
// instance is one thread); `work(seen)` is a worker's loop: it waits for the run generation to
// move past `seen`, runs, and returns when the stop word is set. A thread with mayWait = 0 (a
// browser's main thread cannot atomic.wait) spins at barriers.
import binaryen from "binaryen";
import type { E, X } from "./lanes.js";

import { CONTROL, MAX_THREADS } from "./thread-limits.js";

export { CONTROL, MAX_THREADS } from "./thread-limits.js";

const G = { id: "thread_id", count: "thread_count", mayWait: "thread_may_wait", spins: "thread_spins" } as const;
const BARRIER = "thread_barrier";
/**
 * Spins at a barrier before sleeping (one spin is ~1 ns): kernels are short, and a futex round
 * trip is not (MobileNetV2 has ~60 kernels of 0.1 to 1 ms). Adaptive, per thread: the budget
 * starts at the most, doubles after a wait the spin covered and halves after one it did not, so
 * a thread whose partner keeps arriving soon spins up to ~250 µs rather than sleep, and one whose
 * partner is off its core (a loaded machine: the spin would only hold the core the partner
 * needs) sleeps after a few µs. (Started at the least, it stays there: waits of tens of µs, the
 * usual imbalance of a kernel, rarely end within a few µs.)
 */
const SPINS = { min: 4096, max: 1 << 18 };

const I32 = binaryen.i32;

/** The globals kernels read; added before any kernel is emitted. */
export function addThreadGlobals(mod: binaryen.Module): void {
  mod.addGlobal(G.id, I32, true, mod.i32.const(0));
  mod.addGlobal(G.count, I32, true, mod.i32.const(1));
  mod.addGlobal(G.mayWait, I32, true, mod.i32.const(1));
  mod.addGlobal(G.spins, I32, true, mod.i32.const(SPINS.max));
}

export const threadId = (mod: binaryen.Module): X => () => mod.global.get(G.id, I32);

/** [lo, hi) of [0, n) for this thread: n * id / count, n * (id + 1) / count (n * count < 2^32). */
export function share(mod: binaryen.Module, n: number): [X, X] {
  const bound = (k: E) => mod.i32.div_u(mod.i32.mul(mod.i32.const(n), k), mod.global.get(G.count, I32));
  return [() => bound(mod.global.get(G.id, I32)), () => bound(mod.i32.add(mod.global.get(G.id, I32), mod.i32.const(1)))];
}

/** Whether this run's thread count passes `test`: decided at compile time for each count, as a mask read at run time. */
export function countIn(mod: binaryen.Module, test: (count: number) => boolean): E {
  let mask = 0;
  for (let t = 1; t <= MAX_THREADS; t++) if (test(t)) mask |= 1 << t;
  return mod.i32.and(mod.i32.shr_u(mod.i32.const(mask), mod.global.get(G.count, I32)), mod.i32.const(1));
}

/** `e` on thread 0 only. */
export const onThreadZero = (mod: binaryen.Module, e: E): E => mod.if(mod.i32.eqz(mod.global.get(G.id, I32)), e);

export const barrierCall = (mod: binaryen.Module): E => mod.call(BARRIER, [], binaryen.none);

/** A kernel of `run`: its function, and whether it partitions itself over the threads. */
export interface ThreadedCall {
  fn: string;
  parallel: boolean;
}

/**
 * What a profiling build (buildWasm's `profile`) reports through its import `profile.mark(call,
 * phase)`: around call i of `run` (its barrier before, then the kernel), around every barrier
 * (call -1) and where a barrier sleeps (the spin ran out), so a script can time each kernel on
 * each thread (bench/threads-profile.ts).
 */
export const PROFILE_PHASE = { segment: 0, kernel: 1, done: 2, barrier: 3, barrierDone: 4, sleep: 5 } as const;
const MARK = "profile_mark";

/** Adds the barrier, `thread`, `run` and `work` (exported but the barrier), the control block at `control`. */
export function addThreadedRun(mod: binaryen.Module, control: number, calls: ThreadedCall[], profile = false): string[] {
  const m = mod;
  const word = (k: number) => m.i32.const(control + k);
  const get = (name: string) => m.global.get(name, I32);
  // A timeout of -1 waits without one; binaryen.js 132 takes i64 constants as a bigint (its typings lag).
  const forever = () => (m.i64 as unknown as { const(v: bigint): E }).const(-1n);
  const mark = (call: number, phase: number): E[] => (profile ? [m.call(MARK, [m.i32.const(call), m.i32.const(phase)], binaryen.none)] : []);
  if (profile) m.addFunctionImport(MARK, "profile", "mark", binaryen.createType([I32, I32]), binaryen.none);

  // Sense by generation: read it, arrive; the last to arrive resets the count, then moves the
  // generation on (in that order: a thread seeing the new generation arrives on a fresh count).
  {
    const [gen, spins, slept] = [0, 1, 2];
    const last = m.i32.eq(m.i32.atomic.rmw.add(0, word(CONTROL.arrived), m.i32.const(1)), m.i32.sub(get(G.count), m.i32.const(1)));
    const moved = () => m.i32.ne(m.i32.atomic.load(0, word(CONTROL.generation)), m.local.get(gen, I32));
    const halved = () => m.i32.shr_u(get(G.spins), m.i32.const(1));
    const doubled = () => m.i32.shl(get(G.spins), m.i32.const(1));
    m.addFunction(profile ? `${BARRIER}_timed` : BARRIER, binaryen.none, binaryen.none, [I32, I32, I32], m.block(null, [
      m.if(m.i32.le_u(get(G.count), m.i32.const(1)), m.return()),
      m.local.set(gen, m.i32.atomic.load(0, word(CONTROL.generation))),
      m.if(last, m.block(null, [
        m.i32.atomic.store(0, word(CONTROL.arrived), m.i32.const(0)),
        m.drop(m.i32.atomic.rmw.add(0, word(CONTROL.generation), m.i32.const(1))),
        m.drop(m.memory.atomic.notify(word(CONTROL.generation), m.i32.const(-1))),
        m.return(),
      ])),
      m.local.set(spins, m.i32.const(0)),
      m.local.set(slept, m.i32.const(0)),
      m.block("done", [m.loop("wait", m.block(null, [
        m.br("done", moved()),
        // A worker that trapped never arrives; its runtime sets `failed`, and the others trap too.
        m.if(m.i32.atomic.load(0, word(CONTROL.failed)), m.unreachable()),
        m.local.set(spins, m.i32.add(m.local.get(spins, I32), m.i32.const(1))),
        m.if(m.i32.and(get(G.mayWait), m.i32.gt_u(m.local.get(spins, I32), get(G.spins))), m.block(null, [
          ...mark(-1, PROFILE_PHASE.sleep),
          m.local.set(slept, m.i32.const(1)),
          m.drop(m.memory.atomic.wait32(word(CONTROL.generation), m.local.get(gen, I32), forever())),
        ])),
        m.br("wait"),
      ]))]),
      m.global.set(G.spins, m.if(m.local.get(slept, I32),
        m.select(m.i32.gt_u(halved(), m.i32.const(SPINS.min)), halved(), m.i32.const(SPINS.min)),
        m.select(m.i32.lt_u(doubled(), m.i32.const(SPINS.max)), doubled(), m.i32.const(SPINS.max)))),
    ]));
  }
  if (profile) {
    m.addFunction(BARRIER, binaryen.none, binaryen.none, [], m.block(null, [...mark(-1, PROFILE_PHASE.barrier), m.call(`${BARRIER}_timed`, [], binaryen.none), ...mark(-1, PROFILE_PHASE.barrierDone)]));
  }

  m.addFunction("thread", binaryen.createType([I32, I32, I32]), binaryen.none, [], m.block(null, [
    m.global.set(G.id, m.local.get(0, I32)),
    m.global.set(G.count, m.local.get(1, I32)),
    m.global.set(G.mayWait, m.local.get(2, I32)),
  ]));

  // A barrier before each parallel kernel and before a serial one after a parallel one (serial
  // ones in a row all run on thread 0, in order); one at the end, so run() returns when all is done.
  // One at the start: the runtime wakes the workers before it copies the inputs, so that their
  // wake-up (a futex round trip, up to a few hundred µs on a VM) overlaps the copy.
  const body: E[] = [];
  let previous: boolean | undefined;
  calls.forEach((c, i) => {
    body.push(...mark(i, PROFILE_PHASE.segment));
    if (previous === undefined || c.parallel || previous) body.push(barrierCall(m));
    const call = m.call(c.fn, [], binaryen.none);
    body.push(...mark(i, PROFILE_PHASE.kernel), c.parallel ? call : onThreadZero(m, call), ...mark(i, PROFILE_PHASE.done));
    previous = c.parallel;
  });
  body.push(...mark(calls.length, PROFILE_PHASE.segment), barrierCall(m), ...mark(calls.length, PROFILE_PHASE.kernel));
  m.addFunction("run", binaryen.none, binaryen.none, [], m.block(null, body));

  {
    const [seen, run] = [0, 1];
    m.addFunction("work", binaryen.createType([I32]), binaryen.none, [I32], m.loop("next", m.block(null, [
      m.if(m.i32.atomic.load(0, word(CONTROL.stop)), m.return()),
      m.local.set(run, m.i32.atomic.load(0, word(CONTROL.run))),
      m.if(m.i32.eq(m.local.get(run, I32), m.local.get(seen, I32)),
        m.drop(m.memory.atomic.wait32(word(CONTROL.run), m.local.get(seen, I32), forever())),
        m.block(null, [m.local.set(seen, m.local.get(run, I32)), m.call("run", [], binaryen.none)])),
      m.br("next"),
    ])));
  }
  for (const name of ["thread", "run", "work"]) m.addFunctionExport(name, name);
  return [BARRIER, ...(profile ? [`${BARRIER}_timed`] : []), "thread", "run", "work"];
}
