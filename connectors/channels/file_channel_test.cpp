#include "connectors/channels/file_channel.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace ennakko {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("ennakko-file-channel-" + std::to_string(::getpid()) + "-" +
            std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::remove_all(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

OutgoingMessage Message() {
  OutgoingMessage m;
  m.outbox_id = 42;
  m.idempotency_key = "preschool-offer.3f2a9c.2026";
  m.service = "preschool-offer";
  m.recipient.pseudonym = "p_7f3e";
  m.recipient.hetu = "010120A901X";
  m.recipient.language = "fi";
  m.title = "Esiopetuspaikka";
  m.body = "Lapsellenne on varattu esiopetuspaikka. Vastaa KYLLÄ tai EI.";
  return m;
}

size_t CountFiles(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    (void)e;
    ++n;
  }
  return n;
}

TEST_CASE("FileChannel writes one JSON file per idempotency key") {
  TempDir tmp;
  FileChannel channel({(tmp.path / "out" / "nested").string()});
  CHECK(channel.name() == "file");
  CHECK(channel.idempotent());
  CHECK(channel.CannotReach(Recipient{}).empty());

  SendOutcome first = channel.Send(Message());
  REQUIRE(first.kind == SendOutcome::Kind::kSent);
  CHECK(first.gateway_ref == "preschool-offer.3f2a9c.2026.json");
  const fs::path file = tmp.path / "out" / "nested" / "preschool-offer.3f2a9c.2026.json";
  REQUIRE(fs::exists(file));
  CHECK((fs::status(file).permissions() & fs::perms::others_read) == fs::perms::none);

  std::ifstream in(file);
  auto doc = nlohmann::json::parse(in);
  CHECK(doc["outbox_id"] == 42);
  CHECK(doc["idempotency_key"] == "preschool-offer.3f2a9c.2026");
  CHECK(doc["service"] == "preschool-offer");
  CHECK(doc["language"] == "fi");
  CHECK(doc["recipient_pseudonym"] == "p_7f3e");
  CHECK(doc["title"] == "Esiopetuspaikka");
  CHECK(doc["body"] == Message().body);
  CHECK(doc.dump().find("010120A901X") == std::string::npos);  // no identity code in the file

  SECTION("the same key twice is one file, and the first content stays") {
    OutgoingMessage again = Message();
    again.body = "changed";
    CHECK(channel.Send(again).kind == SendOutcome::Kind::kSent);
    CHECK(CountFiles(file.parent_path()) == 1);
    std::ifstream in2(file);
    CHECK(nlohmann::json::parse(in2)["body"] == Message().body);
  }
  SECTION("another key is another file") {
    OutgoingMessage other = Message();
    other.idempotency_key = "preschool-offer.aaaa.2026";
    CHECK(channel.Send(other).kind == SendOutcome::Kind::kSent);
    CHECK(CountFiles(file.parent_path()) == 2);
  }
}

TEST_CASE("FileChannel refuses keys that are not safe file names") {
  TempDir tmp;
  FileChannel channel({tmp.path.string()});
  for (const char* key : {"", "../escape", ".hidden", "a/b", "spaces not ok"}) {
    OutgoingMessage m = Message();
    m.idempotency_key = key;
    INFO(key);
    CHECK(channel.Send(m).kind == SendOutcome::Kind::kPermanent);
  }
}

TEST_CASE("FileChannel reports an unwritable directory as transient") {
  TempDir tmp;
  fs::create_directories(tmp.path);
  std::ofstream(tmp.path / "a-file") << "x";
  FileChannel channel({(tmp.path / "a-file" / "sub").string()});
  SendOutcome out = channel.Send(Message());
  CHECK(out.kind == SendOutcome::Kind::kTransient);
  CHECK_FALSE(out.detail.empty());
}

}  // namespace
}  // namespace ennakko
