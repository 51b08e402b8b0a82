// Tokens of the .nn language. Newlines are ordinary whitespace: statements are
// self-delimiting, and `;` may separate them.
import { createToken, Lexer, type TokenType } from "chevrotain";

/** Any word, keyword or not: label segments and type names may be keywords (`attention.output.dense:`). */
export const Word = createToken({ name: "Word", pattern: Lexer.NA });
export const Identifier = createToken({ name: "Identifier", pattern: /[A-Za-z_][A-Za-z0-9_]*/, categories: [Word] });

function keyword(word: string): TokenType {
  return createToken({ name: word[0]!.toUpperCase() + word.slice(1), pattern: new RegExp(word), longer_alt: Identifier, categories: [Word] });
}

export const Import = keyword("import");
export const Block = keyword("block");
export const Model = keyword("model");
export const Input = keyword("input");
export const Output = keyword("output");
export const Return = keyword("return");
export const For = keyword("for");
export const In = keyword("in");
export const If = keyword("if");
export const Else = keyword("else");
export const Assert = keyword("assert");
export const Shared = keyword("shared");
export const True = keyword("true");
export const False = keyword("false");
export const None = keyword("none");

const floatPattern = /\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+/y;
// A number right after `.` is a label segment (`features.3.1:`), never a float: `3.1` there
// must lex as Integer Dot Integer.
export const FloatLit = createToken({
  name: "Float",
  pattern: {
    exec(text: string, offset: number) {
      if (offset > 0 && text[offset - 1] === ".") return null;
      floatPattern.lastIndex = offset;
      return floatPattern.exec(text);
    },
  },
  line_breaks: false,
  start_chars_hint: [..."0123456789"],
});
export const IntegerLit = createToken({ name: "Integer", pattern: /\d+/ });
/** A string's escapes, each a backslash and one character, and what they stand for. */
export const ESCAPES: Readonly<Record<string, string>> = { n: "\n", t: "\t", "\\": "\\", '"': '"' };

export const StringLit = createToken({
  name: "String",
  // `"`, then characters or escapes (a backslash and the character after it), then `"`, all on
  // one line. A loop: the regular expression for it recurses once per escape and overflows the
  // stack on a long run of them.
  pattern: {
    exec(text: string, offset: number) {
      if (text[offset] !== '"') return null;
      for (let i = offset + 1; i < text.length && text[i] !== "\n"; i++) {
        if (text[i] === '"') return [text.slice(offset, i + 1)] as unknown as RegExpExecArray;
        if (text[i] === "\\" && text[i + 1] !== "\n") i++;
      }
      return null;
    },
  },
  line_breaks: false,
  start_chars_hint: ['"'],
});

export const Arrow = createToken({ name: "Arrow", pattern: /=>/ });
export const EqEq = createToken({ name: "EqEq", pattern: /==/ });
export const NotEq = createToken({ name: "NotEq", pattern: /!=/ });
export const LessEq = createToken({ name: "LessEq", pattern: /<=/ });
export const GreaterEq = createToken({ name: "GreaterEq", pattern: />=/ });
export const AndAnd = createToken({ name: "AndAnd", pattern: /&&/ });
export const OrOr = createToken({ name: "OrOr", pattern: /\|\|/ });
/** `|` separates the options of a union type: `stride: int | (int, int)`. */
export const Pipe = createToken({ name: "Pipe", pattern: /\|/ });
export const StarStar = createToken({ name: "StarStar", pattern: /\*\*/ });
export const SlashSlash = createToken({ name: "SlashSlash", pattern: /\/\// });
export const Less = createToken({ name: "Less", pattern: /</ });
export const Greater = createToken({ name: "Greater", pattern: />/ });
export const Equals = createToken({ name: "Equals", pattern: /=/ });
export const Bang = createToken({ name: "Bang", pattern: /!/ });
export const Plus = createToken({ name: "Plus", pattern: /\+/ });
export const Minus = createToken({ name: "Minus", pattern: /-/ });
export const Star = createToken({ name: "Star", pattern: /\*/ });
export const Slash = createToken({ name: "Slash", pattern: /\// });
export const Percent = createToken({ name: "Percent", pattern: /%/ });
export const Colon = createToken({ name: "Colon", pattern: /:/ });
export const Semicolon = createToken({ name: "Semicolon", pattern: /;/ });
export const Comma = createToken({ name: "Comma", pattern: /,/ });
export const Dot = createToken({ name: "Dot", pattern: /\./ });
export const LParen = createToken({ name: "LParen", pattern: /\(/ });
export const RParen = createToken({ name: "RParen", pattern: /\)/ });
export const LBracket = createToken({ name: "LBracket", pattern: /\[/ });
export const RBracket = createToken({ name: "RBracket", pattern: /]/ });
export const LCurly = createToken({ name: "LCurly", pattern: /{/ });
export const RCurly = createToken({ name: "RCurly", pattern: /}/ });

// Text no token matches goes to the "invalid" group, out of the parser's way, and is reported
// by parseSource: a quote left open swallows the rest of its line, other stray characters run
// up to the next word, space, quote, comment or bracket.
export const BadString = createToken({ name: "BadString", pattern: /"[^\n]*/, group: "invalid" });
export const Invalid = createToken({ name: "Invalid", pattern: /[^ \t\r\n\w"#()[\]{},;]+/, group: "invalid" });

const WhiteSpace = createToken({ name: "WhiteSpace", pattern: /[ \t\r\n]+/, group: Lexer.SKIPPED });
const Comment = createToken({ name: "Comment", pattern: /#[^\n]*/, group: Lexer.SKIPPED });

export const allTokens: TokenType[] = [
  WhiteSpace, Comment,
  Word, Import, Block, Model, Input, Output, Return, For, In, If, Else, Assert, Shared, True, False, None,
  Identifier, FloatLit, IntegerLit, StringLit,
  Arrow, EqEq, NotEq, LessEq, GreaterEq, AndAnd, OrOr, Pipe, StarStar, SlashSlash,
  Less, Greater, Equals, Bang, Plus, Minus, Star, Slash, Percent,
  Colon, Semicolon, Comma, Dot, LParen, RParen, LBracket, RBracket, LCurly, RCurly,
  BadString, Invalid,
];

export const nnLexer = new Lexer(allTokens, { ensureOptimizations: false, positionTracking: "full" });
