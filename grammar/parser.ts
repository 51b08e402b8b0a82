// The .nn grammar as a Chevrotain CstParser. Error recovery is on, so one parse reports
// several syntax errors; the CST of a file with errors is never turned into an AST.
import { CstParser, tokenMatcher, type IParserErrorMessageProvider, type IToken } from "chevrotain";
import * as T from "./lexer.js";

export class NnParser extends CstParser {
  constructor(errorMessageProvider?: IParserErrorMessageProvider) {
    super(T.allTokens, { recoveryEnabled: true, maxLookahead: 3, nodeLocationTracking: "full", ...(errorMessageProvider ? { errorMessageProvider } : {}) });
    this.performSelfAnalysis();
  }

  /** The next token to parse: after a stack overflow, where the nesting became too deep. */
  next(): IToken {
    return this.LA(1);
  }

  /**
   * Does a label path (`a.{i}.0:`) start here? Segments are dot-separated; the parts of one
   * segment (words, integers, `{...}`) must touch, so `layer{i}` is one segment and `a b:` none.
   */
  private labelAhead(): boolean {
    let k = 1;
    if (this.LA(k).tokenType === T.Shared) k++;
    for (;;) {
      let parts = 0;
      let end = -1;
      for (;;) {
        const t = this.LA(k);
        if (parts > 0 && t.startOffset !== end + 1) break;
        if (tokenMatcher(t, T.Word) || t.tokenType === T.IntegerLit) {
          end = t.endOffset ?? t.startOffset;
          k++;
          parts++;
          continue;
        }
        if (t.tokenType !== T.LCurly) break;
        let depth = 0;
        let u: IToken;
        do {
          u = this.LA(k++);
          if (u.tokenType === T.LCurly) depth++;
          else if (u.tokenType === T.RCurly) depth--;
          else if (u.tokenType.name === "EOF") return false;
        } while (depth > 0);
        end = u.endOffset ?? u.startOffset;
        parts++;
      }
      if (parts === 0) return false;
      const t = this.LA(k).tokenType;
      if (t === T.Colon) return true;
      if (t !== T.Dot) return false;
      k++;
    }
  }

  /** Does a lambda (`x =>` or `(a, b) =>`) start here? */
  private lambdaAhead(): boolean {
    if (this.LA(1).tokenType === T.Identifier) return this.LA(2).tokenType === T.Arrow;
    if (this.LA(1).tokenType !== T.LParen) return false;
    let k = 2;
    if (this.LA(k).tokenType === T.RParen) return this.LA(k + 1).tokenType === T.Arrow;
    for (;;) {
      if (this.LA(k).tokenType !== T.Identifier) return false;
      k++;
      const t = this.LA(k).tokenType;
      if (t === T.RParen) return this.LA(k + 1).tokenType === T.Arrow;
      if (t !== T.Comma) return false;
      k++;
    }
  }

  file = this.RULE("file", () => {
    this.MANY(() => {
      this.OR([
        { ALT: () => this.SUBRULE(this.importDecl) },
        { ALT: () => this.SUBRULE(this.blockDecl) },
      ]);
    });
  });

  importDecl = this.RULE("importDecl", () => {
    this.CONSUME(T.Import);
    this.CONSUME(T.StringLit);
    this.OPTION(() => this.CONSUME(T.Semicolon));
  });

  blockDecl = this.RULE("blockDecl", () => {
    this.OR([{ ALT: () => this.CONSUME(T.Block) }, { ALT: () => this.CONSUME(T.Model) }]);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.param) });
    this.CONSUME(T.RParen);
    this.SUBRULE(this.body);
  });

  param = this.RULE("param", () => {
    this.CONSUME(T.Identifier);
    this.OPTION(() => {
      this.CONSUME(T.Colon);
      this.SUBRULE(this.typeExpr);
    });
    this.OPTION2(() => {
      this.CONSUME(T.Equals);
      this.SUBRULE(this.expression);
    });
  });

  typeExpr = this.RULE("typeExpr", () => {
    this.AT_LEAST_ONE_SEP({ SEP: T.Pipe, DEF: () => this.SUBRULE(this.typeAtom) });
  });

  /** A type name, a parenthesised type, or a tuple type `(int, int)` (a comma makes it a tuple). */
  typeAtom = this.RULE("typeAtom", () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Word) },
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.SUBRULE(this.typeExpr);
          this.MANY(() => {
            this.CONSUME(T.Comma);
            this.OPTION(() => this.SUBRULE2(this.typeExpr));
          });
          this.CONSUME(T.RParen);
        },
      },
    ]);
  });

  body = this.RULE("body", () => {
    this.CONSUME(T.LCurly);
    this.MANY(() => this.SUBRULE(this.statement));
    this.CONSUME(T.RCurly);
  });

  statement = this.RULE("statement", () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.returnStmt) },
      { ALT: () => this.SUBRULE(this.inputStmt) },
      { ALT: () => this.SUBRULE(this.outputStmt) },
      { ALT: () => this.SUBRULE(this.forStmt) },
      { ALT: () => this.SUBRULE(this.ifStmt) },
      { ALT: () => this.SUBRULE(this.assertStmt) },
      { ALT: () => this.SUBRULE(this.assignStmt) },
    ]);
    this.OPTION(() => this.CONSUME(T.Semicolon));
  });

  returnStmt = this.RULE("returnStmt", () => {
    this.CONSUME(T.Return);
    this.SUBRULE(this.expression);
  });

  inputStmt = this.RULE("inputStmt", () => {
    this.CONSUME(T.Input);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Colon);
    this.CONSUME2(T.Identifier);
    this.CONSUME(T.LBracket);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.expression) });
    const close = this.CONSUME(T.RBracket);
    // A layout word (`nhwc`) on the same line; not the next statement (`y = ...`, `a, b = ...`).
    this.OPTION({
      GATE: () => this.LA(1).tokenType === T.Identifier && this.LA(1).startLine === close.endLine && this.LA(2).tokenType !== T.Equals && this.LA(2).tokenType !== T.Comma,
      DEF: () => this.CONSUME3(T.Identifier),
    });
  });

  outputStmt = this.RULE("outputStmt", () => {
    this.CONSUME(T.Output);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression);
  });

  forStmt = this.RULE("forStmt", () => {
    this.CONSUME(T.For);
    this.SUBRULE(this.pattern);
    this.CONSUME(T.In);
    this.SUBRULE(this.expression);
    this.SUBRULE(this.body);
  });

  pattern = this.RULE("pattern", () => {
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.patternAtom) });
  });

  patternAtom = this.RULE("patternAtom", () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Identifier) },
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.SUBRULE(this.pattern);
          this.CONSUME(T.RParen);
        },
      },
    ]);
  });

  ifStmt = this.RULE("ifStmt", () => {
    this.CONSUME(T.If);
    this.SUBRULE(this.expression);
    this.SUBRULE(this.body);
    this.OPTION(() => {
      this.CONSUME(T.Else);
      this.OR([{ ALT: () => this.SUBRULE(this.ifStmt) }, { ALT: () => this.SUBRULE2(this.body) }]);
    });
  });

  assertStmt = this.RULE("assertStmt", () => {
    this.CONSUME(T.Assert);
    this.SUBRULE(this.expression);
    this.OPTION(() => {
      this.CONSUME(T.Comma);
      this.SUBRULE2(this.expression);
    });
  });

  assignStmt = this.RULE("assignStmt", () => {
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.CONSUME(T.Identifier) });
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression);
  });

  expression = this.RULE("expression", () => {
    this.OR({
      IGNORE_AMBIGUITIES: true,
      DEF: [
        { GATE: () => this.lambdaAhead(), ALT: () => this.SUBRULE(this.lambda) },
        { GATE: () => this.labelAhead(), ALT: () => this.SUBRULE(this.labelled) },
        { ALT: () => this.SUBRULE(this.orExpr) },
      ],
    });
  });

  lambda = this.RULE("lambda", () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Identifier) },
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.MANY_SEP({ SEP: T.Comma, DEF: () => this.CONSUME2(T.Identifier) });
          this.CONSUME(T.RParen);
        },
      },
    ]);
    this.CONSUME(T.Arrow);
    this.SUBRULE(this.expression);
  });

  labelled = this.RULE("labelled", () => {
    this.OPTION(() => this.CONSUME(T.Shared));
    this.AT_LEAST_ONE_SEP({ SEP: T.Dot, DEF: () => this.SUBRULE(this.labelSegment) });
    this.CONSUME(T.Colon);
    this.SUBRULE(this.expression);
  });

  /**
   * A label after an operator (`x + attn: attention(q, k, v)`) is a primary: it binds to the call
   * (or other postfix expression) that follows it, as `x + (attn: attention(q, k, v))`.
   */
  labelledPrimary = this.RULE("labelledPrimary", () => {
    this.OPTION(() => this.CONSUME(T.Shared));
    this.AT_LEAST_ONE_SEP({ SEP: T.Dot, DEF: () => this.SUBRULE(this.labelSegment) });
    this.CONSUME(T.Colon);
    this.SUBRULE(this.postfix);
  });

  labelSegment = this.RULE("labelSegment", () => {
    this.AT_LEAST_ONE(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Word) },
        { ALT: () => this.CONSUME(T.IntegerLit) },
        {
          ALT: () => {
            this.CONSUME(T.LCurly);
            this.SUBRULE(this.expression);
            this.CONSUME(T.RCurly);
          },
        },
      ]);
    });
  });

  orExpr = this.RULE("orExpr", () => {
    this.SUBRULE(this.andExpr);
    this.MANY(() => {
      this.CONSUME(T.OrOr);
      this.SUBRULE2(this.andExpr);
    });
  });

  andExpr = this.RULE("andExpr", () => {
    this.SUBRULE(this.cmpExpr);
    this.MANY(() => {
      this.CONSUME(T.AndAnd);
      this.SUBRULE2(this.cmpExpr);
    });
  });

  cmpExpr = this.RULE("cmpExpr", () => {
    this.SUBRULE(this.addExpr);
    this.OPTION(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.EqEq) },
        { ALT: () => this.CONSUME(T.NotEq) },
        { ALT: () => this.CONSUME(T.LessEq) },
        { ALT: () => this.CONSUME(T.GreaterEq) },
        { ALT: () => this.CONSUME(T.Less) },
        { ALT: () => this.CONSUME(T.Greater) },
      ]);
      this.SUBRULE2(this.addExpr);
    });
  });

  addExpr = this.RULE("addExpr", () => {
    this.SUBRULE(this.mulExpr);
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Plus) }, { ALT: () => this.CONSUME(T.Minus) }]);
      this.SUBRULE2(this.mulExpr);
    });
  });

  mulExpr = this.RULE("mulExpr", () => {
    this.SUBRULE(this.unary);
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Star) },
        { ALT: () => this.CONSUME(T.SlashSlash) },
        { ALT: () => this.CONSUME(T.Slash) },
        { ALT: () => this.CONSUME(T.Percent) },
      ]);
      this.SUBRULE2(this.unary);
    });
  });

  unary = this.RULE("unary", () => {
    this.OR([
      {
        ALT: () => {
          this.OR2([{ ALT: () => this.CONSUME(T.Minus) }, { ALT: () => this.CONSUME(T.Bang) }]);
          this.SUBRULE(this.unary);
        },
      },
      { ALT: () => this.SUBRULE(this.power) },
    ]);
  });

  power = this.RULE("power", () => {
    this.SUBRULE(this.postfix);
    this.OPTION(() => {
      this.CONSUME(T.StarStar);
      this.SUBRULE(this.unary);
    });
  });

  postfix = this.RULE("postfix", () => {
    this.SUBRULE(this.primary);
    this.MANY(() => {
      this.OR([{ ALT: () => this.SUBRULE(this.callSuffix) }, { ALT: () => this.SUBRULE(this.indexSuffix) }]);
    });
  });

  callSuffix = this.RULE("callSuffix", () => {
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.argument) });
    this.CONSUME(T.RParen);
  });

  argument = this.RULE("argument", () => {
    this.OPTION({
      GATE: () => this.LA(2).tokenType === T.Equals,
      DEF: () => {
        this.CONSUME(T.Identifier);
        this.CONSUME(T.Equals);
      },
    });
    this.SUBRULE(this.expression);
  });

  indexSuffix = this.RULE("indexSuffix", () => {
    this.CONSUME(T.LBracket);
    this.SUBRULE(this.expression);
    this.CONSUME(T.RBracket);
  });

  primary = this.RULE("primary", () => {
    this.OR({ IGNORE_AMBIGUITIES: true, DEF: [
      { GATE: () => this.labelAhead(), ALT: () => this.SUBRULE(this.labelledPrimary) },
      { ALT: () => this.CONSUME(T.IntegerLit) },
      { ALT: () => this.CONSUME(T.FloatLit) },
      { ALT: () => this.CONSUME(T.StringLit) },
      { ALT: () => this.CONSUME(T.True) },
      { ALT: () => this.CONSUME(T.False) },
      { ALT: () => this.CONSUME(T.None) },
      { GATE: () => this.seqAhead(), ALT: () => this.SUBRULE(this.seqExpr) },
      { ALT: () => this.CONSUME(T.Identifier) },
      { ALT: () => this.SUBRULE(this.parenOrTuple) },
      { ALT: () => this.SUBRULE(this.listLit) },
      { ALT: () => this.SUBRULE(this.ifExpr) },
    ] });
  });

  parenOrTuple = this.RULE("parenOrTuple", () => {
    this.CONSUME(T.LParen);
    this.OPTION(() => {
      this.SUBRULE(this.expression);
      this.MANY(() => {
        this.CONSUME(T.Comma);
        this.OPTION2(() => this.SUBRULE2(this.expression));
      });
    });
    this.CONSUME(T.RParen);
  });

  listLit = this.RULE("listLit", () => {
    this.CONSUME(T.LBracket);
    this.OPTION(() => {
      this.SUBRULE(this.expression);
      this.MANY(() => {
        this.CONSUME(T.Comma);
        this.OPTION2(() => this.SUBRULE2(this.expression));
      });
    });
    this.CONSUME(T.RBracket);
  });

  /** `seq` is a keyword only when a `{` follows, so it stays usable as a name. */
  private seqAhead(): boolean {
    return this.LA(1).image === "seq" && this.LA(2).tokenType === T.LCurly;
  }

  // Items are separated by `;`, `,` or just newlines.
  seqExpr = this.RULE("seqExpr", () => {
    this.CONSUME(T.Identifier);
    this.CONSUME(T.LCurly);
    this.MANY(() => {
      this.SUBRULE(this.expression);
      this.OPTION(() => {
        this.OR([{ ALT: () => this.CONSUME(T.Semicolon) }, { ALT: () => this.CONSUME(T.Comma) }]);
      });
    });
    this.CONSUME(T.RCurly);
  });

  ifExpr = this.RULE("ifExpr", () => {
    this.CONSUME(T.If);
    this.SUBRULE(this.expression);
    this.CONSUME(T.LCurly);
    this.SUBRULE2(this.expression);
    this.CONSUME(T.RCurly);
    this.CONSUME(T.Else);
    this.OR([
      { ALT: () => this.SUBRULE(this.ifExpr) },
      {
        ALT: () => {
          this.CONSUME2(T.LCurly);
          this.SUBRULE3(this.expression);
          this.CONSUME2(T.RCurly);
        },
      },
    ]);
  });
}

