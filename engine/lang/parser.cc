#include "engine/lang/parser.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>

namespace ennakko {

namespace {

enum class Tok { kEnd, kIdent, kInt, kDecimal, kString, kOp, kError };

struct Token {
  Tok kind = Tok::kEnd;
  size_t offset = 0;
  std::string text;
};

class Lexer {
 public:
  explicit Lexer(const std::string& s) : s_(s) {}

  Token Next() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    Token t;
    t.offset = pos_;
    if (pos_ >= s_.size()) return t;
    char c = s_[pos_];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t b = pos_;
      while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) ++pos_;
      t.kind = Tok::kIdent;
      t.text = s_.substr(b, pos_ - b);
      return t;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t b = pos_;
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
      t.kind = Tok::kInt;
      // A decimal literal: digits '.' digits (a '.' followed by a letter is a field access).
      if (pos_ + 1 < s_.size() && s_[pos_] == '.' && std::isdigit(static_cast<unsigned char>(s_[pos_ + 1]))) {
        ++pos_;
        while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
        t.kind = Tok::kDecimal;
      }
      t.text = s_.substr(b, pos_ - b);
      return t;
    }
    if (c == '"' || c == '\'') {
      char q = c;
      ++pos_;
      std::string v;
      while (pos_ < s_.size() && s_[pos_] != q) {
        if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) {
          ++pos_;
          char e = s_[pos_];
          v += e == 'n' ? '\n' : e == 't' ? '\t' : e;
        } else {
          v += s_[pos_];
        }
        ++pos_;
      }
      if (pos_ >= s_.size()) {
        t.kind = Tok::kError;
        t.text = "unterminated string";
        return t;
      }
      ++pos_;
      t.kind = Tok::kString;
      t.text = std::move(v);
      return t;
    }
    static const char* kTwo[] = {"==", "!=", "<=", ">=", "&&", "||"};
    for (const char* op : kTwo) {
      if (s_.compare(pos_, 2, op) == 0) {
        pos_ += 2;
        t.kind = Tok::kOp;
        t.text = op;
        return t;
      }
    }
    if (std::string_view("<>!+-*/%?:.,()[]").find(c) != std::string_view::npos) {
      ++pos_;
      t.kind = Tok::kOp;
      t.text = std::string(1, c);
      return t;
    }
    t.kind = Tok::kError;
    t.text = std::string("unexpected character '") + c + "'";
    ++pos_;
    return t;
  }

 private:
  const std::string& s_;
  size_t pos_ = 0;
};

class Parser {
 public:
  Parser(const std::string& text, const ParseLimits& limits) : lex_(text), limits_(limits) {
    Advance();
  }

  ParseResult Run() {
    ParseResult r;
    auto e = Expression();
    if (!failed_ && tok_.kind != Tok::kEnd) Fail(tok_.offset, "unexpected '" + tok_.text + "' after the end of the expression");
    if (failed_) {
      r.error = error_;
      return r;
    }
    r.expr = std::move(e);
    return r;
  }

 private:
  using Ptr = std::unique_ptr<Expr>;

  void Advance() {
    tok_ = lex_.Next();
    if (tok_.kind == Tok::kError) Fail(tok_.offset, tok_.text);
  }
  bool IsOp(const char* op) const { return tok_.kind == Tok::kOp && tok_.text == op; }
  void Fail(size_t offset, std::string message) {
    if (failed_) return;
    failed_ = true;
    error_ = {offset, std::move(message)};
  }
  bool Expect(const char* op) {
    if (IsOp(op)) {
      Advance();
      return true;
    }
    Fail(tok_.offset, std::string("expected '") + op + "'" +
                          (tok_.kind == Tok::kEnd ? " before the end" : " but found '" + tok_.text + "'"));
    return false;
  }

  // Sets `n`'s height from its children and refuses trees taller than the limit.
  Ptr Sealed(Ptr n) {
    if (!n) return n;
    int h = 0;
    for (const auto& c : n->args) {
      if (c) h = std::max(h, c->height);
    }
    n->height = h + 1;
    if (n->height > limits_.max_depth) {
      TooDeepError(n->offset);
      return nullptr;
    }
    return n;
  }

  void TooDeepError(size_t offset) {
    Fail(offset, "expression nested deeper than the limit of " + std::to_string(limits_.max_depth));
  }

  Ptr Node(ExprKind kind, size_t offset, std::string name = {}) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->offset = offset;
    e->name = std::move(name);
    return e;
  }

  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) { ++p.depth_; }
    ~DepthGuard() { --p.depth_; }
  };

  // Refuses nesting beyond the limit, so hostile input cannot exhaust the stack.
  bool TooDeep(size_t offset) {
    if (depth_ <= limits_.max_depth) return false;
    TooDeepError(offset);
    return true;
  }

  Ptr Expression() {
    DepthGuard g(*this);
    if (TooDeep(tok_.offset)) return nullptr;
    auto cond = Binary(0);
    if (failed_ || !IsOp("?")) return cond;
    size_t off = tok_.offset;
    Advance();
    auto a = Expression();
    if (failed_ || !Expect(":")) return nullptr;
    auto b = Expression();
    if (failed_) return nullptr;
    auto n = Node(ExprKind::kConditional, off, "?:");
    n->args.push_back(std::move(cond));
    n->args.push_back(std::move(a));
    n->args.push_back(std::move(b));
    return Sealed(std::move(n));
  }

  // Precedence climbing over the binary operators.
  static int Precedence(const Token& t) {
    if (t.kind == Tok::kIdent && t.text == "in") return 3;
    if (t.kind != Tok::kOp) return -1;
    const std::string& o = t.text;
    if (o == "||") return 1;
    if (o == "&&") return 2;
    if (o == "==" || o == "!=" || o == "<" || o == "<=" || o == ">" || o == ">=") return 3;
    if (o == "+" || o == "-") return 4;
    if (o == "*" || o == "/" || o == "%") return 5;
    return -1;
  }

  Ptr Binary(int min_prec) {
    auto lhs = Unary();
    while (!failed_) {
      int prec = Precedence(tok_);
      if (prec < 0 || prec < min_prec) break;
      Token op = tok_;
      Advance();
      DepthGuard g(*this);
      if (TooDeep(op.offset)) return nullptr;
      auto rhs = Binary(prec + 1);
      if (failed_) return nullptr;
      auto n = Node(ExprKind::kBinary, op.offset, op.text);
      n->args.push_back(std::move(lhs));
      n->args.push_back(std::move(rhs));
      lhs = Sealed(std::move(n));
      if (!lhs) return nullptr;
    }
    return lhs;
  }

  Ptr Unary() {
    if (IsOp("!") || IsOp("-")) {
      Token op = tok_;
      Advance();
      DepthGuard g(*this);
      if (TooDeep(op.offset)) return nullptr;
      auto operand = Unary();
      if (failed_) return nullptr;
      auto n = Node(ExprKind::kUnary, op.offset, op.text);
      n->args.push_back(std::move(operand));
      return Sealed(std::move(n));
    }
    return Postfix();
  }

  std::vector<Ptr> Arguments(const char* close) {
    std::vector<Ptr> args;
    if (IsOp(close)) {
      Advance();
      return args;
    }
    for (;;) {
      args.push_back(Expression());
      if (failed_) return args;
      if (IsOp(",")) {
        Advance();
        continue;
      }
      Expect(close);
      return args;
    }
  }

  Ptr Postfix() {
    auto e = Primary();
    while (!failed_ && (IsOp(".") || IsOp("["))) {
      if (IsOp("[")) {
        size_t off = tok_.offset;
        Advance();
        auto key = Expression();
        if (failed_ || !Expect("]")) return nullptr;
        auto idx = Node(ExprKind::kIndex, off, "[]");
        idx->args.push_back(std::move(e));
        idx->args.push_back(std::move(key));
        e = Sealed(std::move(idx));
        if (!e) return nullptr;
        continue;
      }
      Advance();
      if (tok_.kind != Tok::kIdent) {
        Fail(tok_.offset, "expected a field or function name after '.'");
        return nullptr;
      }
      Token name = tok_;
      Advance();
      if (IsOp("(")) {
        Advance();
        auto call = Node(ExprKind::kCall, name.offset, name.text);
        call->has_receiver = true;
        call->args.push_back(std::move(e));
        for (auto& a : Arguments(")")) call->args.push_back(std::move(a));
        if (failed_) return nullptr;
        e = Sealed(std::move(call));
      } else {
        auto sel = Node(ExprKind::kSelect, name.offset, name.text);
        sel->args.push_back(std::move(e));
        e = Sealed(std::move(sel));
      }
      if (!e) return nullptr;
    }
    return e;
  }

  Ptr Primary() {
    Token t = tok_;
    switch (t.kind) {
      case Tok::kInt: {
        Advance();
        int64_t v = 0;
        auto [p, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
        if (ec != std::errc()) {
          Fail(t.offset, "integer literal out of range");
          return nullptr;
        }
        auto n = Node(ExprKind::kLiteral, t.offset);
        n->literal = v;
        return n;
      }
      case Tok::kDecimal: {
        Advance();
        size_t dot = t.text.find('.');
        std::string frac = t.text.substr(dot + 1);
        if (frac.size() > 6) {
          Fail(t.offset, "decimal literal has more than 6 decimal places");
          return nullptr;
        }
        int64_t whole = 0, part = 0;
        auto [p1, e1] = std::from_chars(t.text.data(), t.text.data() + dot, whole);
        auto [p2, e2] = std::from_chars(frac.data(), frac.data() + frac.size(), part);
        if (e1 != std::errc() || e2 != std::errc() || whole > INT64_MAX / kDecimalScale - 1) {
          Fail(t.offset, "decimal literal out of range");
          return nullptr;
        }
        for (size_t k = frac.size(); k < 6; ++k) part *= 10;
        auto n = Node(ExprKind::kLiteral, t.offset);
        n->literal = DecimalLiteral{whole * kDecimalScale + part};
        return n;
      }
      case Tok::kString: {
        Advance();
        auto n = Node(ExprKind::kLiteral, t.offset);
        n->literal = t.text;
        return n;
      }
      case Tok::kIdent: {
        Advance();
        if (t.text == "true" || t.text == "false") {
          auto n = Node(ExprKind::kLiteral, t.offset);
          n->literal = t.text == "true";
          return n;
        }
        if (t.text == "null") return Node(ExprKind::kLiteral, t.offset);
        if (IsOp("(")) {
          Advance();
          auto call = Node(ExprKind::kCall, t.offset, t.text);
          call->args = Arguments(")");
          if (failed_) return nullptr;
          return Sealed(std::move(call));
        }
        return Node(ExprKind::kIdent, t.offset, t.text);
      }
      case Tok::kOp:
        if (t.text == "(") {
          Advance();
          auto e = Expression();
          if (failed_) return nullptr;
          Expect(")");
          return e;
        }
        if (t.text == "[") {
          Advance();
          auto list = Node(ExprKind::kList, t.offset, "[]");
          list->args = Arguments("]");
          if (failed_) return nullptr;
          return Sealed(std::move(list));
        }
        Fail(t.offset, "unexpected '" + t.text + "'");
        return nullptr;
      case Tok::kEnd:
        Fail(t.offset, "expression ends too early");
        return nullptr;
      case Tok::kError:
        return nullptr;
    }
    return nullptr;
  }

  Lexer lex_;
  ParseLimits limits_;
  Token tok_;
  bool failed_ = false;
  ParseError error_;
  int depth_ = 0;
};

}  // namespace

ParseResult ParseExpression(const std::string& text, const ParseLimits& limits) {
  if (text.size() > limits.max_length) {
    ParseResult r;
    r.error = {0, "expression is " + std::to_string(text.size()) + " bytes, over the limit of " +
                      std::to_string(limits.max_length)};
    return r;
  }
  return Parser(text, limits).Run();
}

}  // namespace ennakko
