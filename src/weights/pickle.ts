// A restricted unpickler: it reads the pickle protocol 2-5 opcodes that plain data is made of
// (dicts, lists, tuples, strings, numbers, None, booleans) and nothing that runs code. A GLOBAL
// resolves only names the caller allows, a REDUCE only calls the caller's `call` for them, and
// persistent ids go to the caller's `persistentLoad`; any other opcode or name is an error that
// names it. Nothing from the file is ever evaluated.

import { fail } from "./tensor.js";

/** A name a GLOBAL or STACK_GLOBAL imported (only allowed ones get this far). */
export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A pickled dict (or OrderedDict): keys are strings, numbers, booleans or null. */
export class PickleDict {
  readonly entries = new Map<unknown, unknown>();
}

/** A BINFLOAT, kept apart from ints so that 2.0 is never read as a dimension. */
export class PickleFloat {
  constructor(readonly value: number) {}
}

/** Tuples are frozen arrays, lists plain arrays. */
export type PickleTuple = readonly unknown[];

export interface UnpickleHooks {
  /** File name for messages. */
  file: string;
  /** Is `module.name` one the caller understands? Others are refused at the GLOBAL. */
  allowGlobal(module: string, name: string): boolean;
  /** The result of REDUCE `fn(*args)` for an allowed global. */
  call(fn: PickleGlobal, args: PickleTuple): unknown;
  /** The object a BINPERSID id stands for. */
  persistentLoad(id: unknown): unknown;
}

const MARK = Symbol("mark");

/** Opcodes refused by name: they build objects or call code outside the allowed set. */
const REFUSED: Record<number, string> = {
  0x69: "INST",
  0x6f: "OBJ",
  0x81: "NEWOBJ",
  0x92: "NEWOBJ_EX",
  0x82: "EXT1",
  0x83: "EXT2",
  0x84: "EXT4",
  0x50: "PERSID",
};

export function unpickle(bytes: Uint8Array, hooks: UnpickleHooks): unknown {
  const { file } = hooks;
  const d = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let pos = 0;

  const bad = (detail: string): never => fail("invalid_pickle", file, `data.pkl byte ${pos}: ${detail}`);
  const need = (n: number) => {
    if (pos + n > bytes.length) bad(`the pickle ends inside an opcode's ${n}-byte argument`);
  };
  const u8 = () => (need(1), d.getUint8(pos++));
  const u16 = () => (need(2), (pos += 2), d.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), d.getUint32(pos - 4, true));
  const u64 = () => {
    need(8);
    const v = d.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(bytes.length)) bad(`a length of ${v} bytes exceeds the pickle`);
    return Number(v);
  };
  const text = (n: number) => {
    need(n);
    const start = pos;
    pos += n;
    try {
      return decoder.decode(bytes.subarray(start, pos));
    } catch {
      return bad("a string is not valid UTF-8");
    }
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) bad("a GLOBAL name has no newline");
    return text(end - pos + 1).slice(0, -1);
  };
  const pop = () => {
    if (stack.length === 0) bad("the stack is empty");
    const v = stack.pop();
    if (v === MARK) bad("a MARK where a value was expected");
    return v;
  };
  const top = () => {
    const v = pop();
    stack.push(v);
    return v;
  };
  const popMark = () => {
    const at = marks.pop();
    if (at === undefined) bad("no MARK to pop to");
    const items = stack.splice(at!);
    items.shift();
    return items;
  };
  const global = (module: string, name: string) => {
    if (!hooks.allowGlobal(module, name)) fail("forbidden_pickle", file, `the pickle calls ${module}.${name}; only tensor records are read (save model.state_dict())`);
    return new PickleGlobal(module, name);
  };
  const setItems = (dict: unknown, items: unknown[]) => {
    if (!(dict instanceof PickleDict)) bad(`SETITEMS on ${describe(dict)}, not a dict`);
    if (items.length % 2 !== 0) bad("SETITEMS with an odd number of items");
    for (let i = 0; i < items.length; i += 2) {
      const key = items[i];
      if (!(typeof key === "string" || typeof key === "number" || typeof key === "boolean" || key === null)) bad(`a dict key is ${describe(key)}`);
      (dict as PickleDict).entries.set(key, items[i + 1]);
    }
  };
  const appendItems = (list: unknown, items: unknown[]) => {
    if (!Array.isArray(list) || Object.isFrozen(list)) bad(`APPENDS on ${describe(list)}, not a list`);
    (list as unknown[]).push(...items);
  };
  const signed = (n: number) => {
    need(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[pos + i]);
    if (n > 0 && bytes[pos + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    pos += n;
    return Number.isSafeInteger(Number(v)) ? Number(v) : v;
  };

  for (;;) {
    const at = pos;
    const op = u8();
    switch (op) {
      case 0x80: {
        const protocol = u8();
        if (protocol < 2 || protocol > 5) bad(`pickle protocol ${protocol}; protocols 2 to 5 are read`);
        break;
      }
      case 0x95: // FRAME: a length prefix for buffering, nothing to do
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || marks.length > 0) bad(`STOP with ${stack.length} values on the stack`);
        return stack[0];
      case 0x28: // MARK
        marks.push(stack.length);
        stack.push(MARK);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new PickleDict());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(Object.freeze([]));
        break;
      case 0x64: {
        // DICT
        const dict = new PickleDict();
        setItems(dict, popMark());
        stack.push(dict);
        break;
      }
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x74: // TUPLE
        stack.push(Object.freeze(popMark()));
        break;
      case 0x85:
      case 0x86:
      case 0x87: {
        // TUPLE1..3
        const items = Array.from({ length: op - 0x84 }, pop).reverse();
        stack.push(Object.freeze(items));
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x58: // BINUNICODE
        stack.push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(u64()));
        break;
      case 0x4a: // BININT
        need(4);
        stack.push(d.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(signed(u8()));
        break;
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(new PickleFloat(d.getFloat64(pos, false)));
        pos += 8;
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const key = op === 0x68 ? u8() : u32();
        if (!memo.has(key)) bad(`memo entry ${key} was never stored`);
        stack.push(memo.get(key));
        break;
      }
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        stack.push(global(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") bad("STACK_GLOBAL of non-strings");
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x51: // BINPERSID
        stack.push(hooks.persistentLoad(pop()));
        break;
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        if (!(fn instanceof PickleGlobal)) fail("forbidden_pickle", file, `the pickle calls ${describe(fn)}; only tensor records are read`);
        if (!Array.isArray(args) || !Object.isFrozen(args)) bad(`REDUCE with ${describe(args)} for arguments, not a tuple`);
        stack.push(hooks.call(fn as PickleGlobal, args as PickleTuple));
        break;
      }
      case 0x62: {
        // BUILD: only a dict's attribute state (an OrderedDict's `_metadata`), which is dropped
        const state = pop();
        const obj = top();
        if (!(obj instanceof PickleDict) || !(state instanceof PickleDict)) fail("forbidden_pickle", file, `the pickle sets the state of ${describe(obj)}; only tensor records are read`);
        break;
      }
      default: {
        pos = at;
        const name = REFUSED[op];
        if (name) fail("forbidden_pickle", file, `data.pkl byte ${at}: opcode ${name} builds objects; only tensor records are read`);
        bad(`opcode 0x${op.toString(16).padStart(2, "0")} is not one a state dict uses`);
      }
    }
  }
}

/** A value's kind for messages: "a str", "an int", "a dict", ... */
export function describe(v: unknown): string {
  if (v === null) return "None";
  if (v === MARK) return "a MARK";
  if (typeof v === "string") return "a str";
  if (typeof v === "number" || typeof v === "bigint") return "an int";
  if (v instanceof PickleFloat) return "a float";
  if (typeof v === "boolean") return "a bool";
  if (v instanceof PickleDict) return "a dict";
  if (v instanceof PickleGlobal) return v.qualified;
  if (Array.isArray(v)) return Object.isFrozen(v) ? "a tuple" : "a list";
  return "an object";
}
