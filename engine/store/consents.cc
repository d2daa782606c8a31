#include "engine/store/consents.h"

#include <fmt/format.h>

#include <cctype>

#include "engine/base/hetu.h"

namespace ennakko {

namespace chr = std::chrono;

namespace {

constexpr const char* kColumns =
    "id, resident_id, purpose, granted_at, expires_at, revoked_at, source, revoked_source, recorded_at";

ConsentRecord ReadRow(const Stmt& st) {
  ConsentRecord c;
  c.id = st.Int(0);
  c.resident_id = st.Int(1);
  c.purpose = st.Text(2);
  c.granted_at = st.Text(3);
  c.expires_at = st.OptText(4);
  c.revoked_at = st.OptText(5);
  c.source = st.Text(6);
  c.revoked_source = st.OptText(7);
  c.recorded_at = st.Text(8);
  return c;
}

Result<std::vector<ConsentRecord>> ReadAll(Stmt& st) {
  std::vector<ConsentRecord> out;
  for (;;) {
    auto row = st.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(ReadRow(st));
  }
  return out;
}

// The SQL condition "consent c is active at ?at" (the parameter is named :at).
constexpr const char* kActiveAt =
    "c.granted_at <= :at AND (c.expires_at IS NULL OR c.expires_at > :at) AND "
    "(c.revoked_at IS NULL OR c.revoked_at > :at)";

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

bool ConsentRecord::ActiveAt(TimePoint t) const {
  std::string at = FormatTimestamp(t);
  return granted_at <= at && (!expires_at || *expires_at > at) && (!revoked_at || *revoked_at > at);
}

Result<TimePoint> ParseTimestamp(std::string_view s) {
  auto bad = [&](const char* what) {
    return Status::Invalid(fmt::format("not an RFC 3339 timestamp ({}); write e.g. 2026-11-22T08:00:00Z", what));
  };
  if (s.size() < 20) return bad("too short");
  auto date = Date::Parse(s.substr(0, 10));
  if (!date) return bad("the date is not a valid YYYY-MM-DD");
  if (s[10] != 'T' && s[10] != 't') return bad("no 'T' between date and time");
  int hh = 0, mm = 0, ss = 0;
  if (!Digits(s, 11, 2, &hh) || s[13] != ':' || !Digits(s, 14, 2, &mm) || s[16] != ':' || !Digits(s, 17, 2, &ss)) {
    return bad("the time is not HH:MM:SS");
  }
  if (hh > 23 || mm > 59 || ss > 59) return bad("the time is out of range");
  size_t pos = 19;
  chr::milliseconds fraction{0};
  if (pos < s.size() && s[pos] == '.') {
    size_t start = ++pos;
    int scale = 100, ms = 0;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      ms += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return bad("no digits after '.'");
    fraction = chr::milliseconds(ms);
  }
  if (pos >= s.size()) return bad("no time zone: end with Z or an offset such as +02:00");
  chr::minutes offset{0};
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh = 0, om = 0;
    if (!Digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !Digits(s, pos + 4, 2, &om) ||
        oh > 23 || om > 59) {
      return bad("the offset is not ±HH:MM");
    }
    offset = chr::hours(oh) + chr::minutes(om);
    if (s[pos] == '-') offset = -offset;
    pos += 6;
  } else {
    return bad("no time zone: end with Z or an offset such as +02:00");
  }
  if (pos != s.size()) return bad("unexpected characters after the time zone");
  TimePoint local = TimePoint(chr::sys_days(chr::days(date->days))) + chr::hours(hh) + chr::minutes(mm) +
                    chr::seconds(ss) + fraction;
  return local - offset;
}

Date HelsinkiDay(TimePoint t) {
  auto local_days = chr::floor<chr::days>(t + HelsinkiOffset(t));
  return Date{static_cast<int32_t>(local_days.time_since_epoch().count())};
}

Status ValidatePurpose(std::string_view p) {
  bool ok = p.size() >= 2 && p.size() <= 64 && p[0] >= 'a' && p[0] <= 'z';
  for (char c : p) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  if (ok) return Status::Ok();
  return Status::Invalid(
      "purpose must be 2-64 lower-case letters, digits and dashes, starting with a letter (e.g. ecec-fee-income)");
}

Status ValidateSource(std::string_view s) {
  bool ok = !s.empty() && s.size() <= 64;
  for (char c : s) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == ':' || c == '/' || c == '-');
  }
  if (ok) return Status::Ok();
  return Status::Invalid("source must be 1-64 letters, digits and . _ : / - naming the recording system (e.g. mydata-operator)");
}

Result<int64_t> ConsentStore::ResidentId(std::string_view identity_code) {
  auto hetu = ParseHetu(identity_code);
  if (!hetu.ok()) return Status::Invalid("identity_code is not a valid identity code: " + hetu.status().message());
  auto st = db_.Prepare("SELECT id FROM residents WHERE hetu = ?");
  if (!st.ok()) return st.status();
  st->Bind(1, hetu->code);
  auto row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("no resident with that identity code in the store");
  return st->Int(0);
}

Result<ConsentStore::Granted> ConsentStore::Grant(const NewConsent& c) {
  ENNAKKO_RETURN_IF_ERROR(ValidatePurpose(c.purpose));
  ENNAKKO_RETURN_IF_ERROR(ValidateSource(c.source));
  TimePoint now = clock_.Now();
  if (c.granted_at > now + options_.max_clock_skew) {
    return Status::Invalid(fmt::format("granted_at is in the future (more than {} s ahead of the server's clock)",
                                       options_.max_clock_skew.count()));
  }
  if (c.expires_at && *c.expires_at <= c.granted_at) return Status::Invalid("expires_at must be after granted_at");
  if (c.expires_at && *c.expires_at <= now) return Status::Invalid("expires_at is already past: the consent would never be active");
  auto resident = ResidentId(c.identity_code);
  if (!resident.ok()) return resident.status();

  // The open consent (not revoked, not expired) for this purpose, if any, refuses the grant.
  std::string now_text = FormatTimestamp(now);
  auto open = db_.Prepare(fmt::format("SELECT {} FROM consents c WHERE resident_id = ? AND purpose = ? AND "
                                      "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) ORDER BY id LIMIT 1",
                                      kColumns));
  if (!open.ok()) return open.status();
  open->Bind(1, *resident).Bind(2, c.purpose).Bind(3, now_text);
  auto row = open->Step();
  if (!row.ok()) return row.status();
  if (*row) return Granted{ReadRow(*open), false};

  auto ins = db_.Prepare(
      "INSERT INTO consents (resident_id, purpose, granted_at, expires_at, source, recorded_at) VALUES (?,?,?,?,?,?) "
      "RETURNING id");
  if (!ins.ok()) return ins.status();
  ins->Bind(1, *resident).Bind(2, c.purpose).Bind(3, FormatTimestamp(c.granted_at));
  if (c.expires_at) ins->Bind(4, FormatTimestamp(*c.expires_at)); else ins->BindNull(4);
  ins->Bind(5, c.source).Bind(6, now_text);
  auto inserted = ins->Step();
  if (!inserted.ok()) return inserted.status();
  int64_t id = ins->Int(0);
  ins->Reset();
  auto got = Get(id);
  if (!got.ok()) return got.status();
  return Granted{std::move(*got), true};
}

Result<ConsentStore::Revoked> ConsentStore::Revoke(int64_t id, std::string_view source) {
  ENNAKKO_RETURN_IF_ERROR(ValidateSource(source));
  auto before = Get(id);
  if (!before.ok()) return before.status();
  if (before->revoked_at) return Revoked{std::move(*before), true};
  auto st = db_.Prepare("UPDATE consents SET revoked_at = ?, revoked_source = ? WHERE id = ? AND revoked_at IS NULL");
  if (!st.ok()) return st.status();
  st->Bind(1, FormatTimestamp(clock_.Now())).Bind(2, source).Bind(3, id);
  ENNAKKO_RETURN_IF_ERROR(st->Run());
  auto after = Get(id);
  if (!after.ok()) return after.status();
  return Revoked{std::move(*after), false};
}

Result<ConsentRecord> ConsentStore::Get(int64_t id) {
  auto st = db_.Prepare(fmt::format("SELECT {} FROM consents WHERE id = ?", kColumns));
  if (!st.ok()) return st.status();
  st->Bind(1, id);
  auto row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound(fmt::format("no consent with id {}", id));
  return ReadRow(*st);
}

Result<std::vector<ConsentRecord>> ConsentStore::OfResident(int64_t resident_id) {
  auto st = db_.Prepare(fmt::format("SELECT {} FROM consents WHERE resident_id = ? ORDER BY id DESC", kColumns));
  if (!st.ok()) return st.status();
  st->Bind(1, resident_id);
  return ReadAll(*st);
}

Result<std::vector<ConsentRecord>> ConsentStore::Active(int64_t resident_id, std::string_view purpose, TimePoint at) {
  auto st = db_.Prepare(fmt::format("SELECT {} FROM consents c WHERE c.resident_id = :id AND c.purpose = :purpose AND {} "
                                    "ORDER BY c.id",
                                    kColumns, kActiveAt));
  if (!st.ok()) return st.status();
  st->Bind(1, resident_id).Bind(2, purpose).Bind(3, FormatTimestamp(at));
  return ReadAll(*st);
}

Result<bool> HasActiveConsent(Db& db, int64_t resident_id, std::string_view purpose, TimePoint at) {
  auto st = db.Prepare(fmt::format(
      "SELECT EXISTS (SELECT 1 FROM consents c WHERE c.resident_id = :id AND c.purpose = :purpose AND {})", kActiveAt));
  if (!st.ok()) return st.status();
  st->Bind(1, resident_id).Bind(2, purpose).Bind(3, FormatTimestamp(at));
  auto row = st->Step();
  if (!row.ok()) return row.status();
  return *row && st->Int(0) != 0;
}

Result<std::vector<int64_t>> ResidentsWithActiveConsent(Db& db, std::string_view purpose, TimePoint at) {
  auto st = db.Prepare(fmt::format(
      "SELECT DISTINCT c.resident_id FROM consents c WHERE c.purpose = :purpose AND {} ORDER BY c.resident_id",
      kActiveAt));
  if (!st.ok()) return st.status();
  st->Bind(1, purpose).Bind(2, FormatTimestamp(at));
  std::vector<int64_t> out;
  for (;;) {
    auto row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(st->Int(0));
  }
  return out;
}

}  // namespace ennakko
