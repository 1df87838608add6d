#include "commands.h"

#include <sys/stat.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli.h"
#include "tianye/attachment.h"
#include "tianye/record.h"
#include "tianye/store.h"

namespace tianye::cli {
namespace {

const std::vector<std::string> kStoreOptions = {"store", "passphrase-file"};

std::vector<std::string> With(std::vector<std::string> base, std::initializer_list<const char*> more) {
  for (const char* m : more) base.emplace_back(m);
  return base;
}

int UsageError(const Status& status) {
  ReportError(status);
  return kExitUsage;
}

}  // namespace

std::string FormatTime(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

int CmdInit(int argc, char** argv, int first) {
  static const char kUsage[] =
      "Usage: tianye init [--store PATH] [--passphrase-file FILE]\n"
      "Creates a new encrypted store. The passphrase comes from --passphrase-file,\n"
      "else TIANYE_PASSPHRASE, else it is asked for twice on the terminal.\n";
  if (WantsHelp(argc, argv, first, kUsage)) return kExitOk;
  auto args = ParseArgs(argc, argv, first, kStoreOptions, {});
  if (!args) return UsageError(args.error());

  std::string path = StorePath(*args);
  if (std::filesystem::exists(path)) {
    return ReportError(Status::AlreadyExists("a store already exists at " + path +
                                             " (use --store to choose another path)"));
  }
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) return ReportError(Status::IOError("cannot create " + parent.string() + ": " + ec.message()));
    ::chmod(parent.c_str(), 0700);
  }
  auto pass = ReadPassphrase(*args, "passphrase-file", /*confirm=*/true);
  if (!pass) return ReportError(pass.error());
  StoreOptions options;
  options.path = path;
  auto store = Store::Open(options, *pass);
  Wipe(*pass);
  if (!store) return ReportError(store.error());
  ::chmod(path.c_str(), 0600);
  std::cout << "Created encrypted store " << path << " (schema " << (*store)->schema_version()
            << ")\n";
  return kExitOk;
}

int CmdList(int argc, char** argv, int first) {
  static const char kUsage[] =
      "Usage: tianye list [--form FORM] [--status STATUS] [--deleted] [--json]\n"
      "Lists records, oldest first. STATUS: draft, finalized, synced, approved,\n"
      "returned, rejected. --deleted lists deleted records instead.\n";
  if (WantsHelp(argc, argv, first, kUsage)) return kExitOk;
  auto args = ParseArgs(argc, argv, first, With(kStoreOptions, {"form", "status"}),
                        {"deleted", "json"});
  if (!args) return UsageError(args.error());
  RecordFilter filter;
  filter.form_id = args->Get("form").value_or("");
  if (auto s = args->Get("status")) {
    auto status = ParseRecordStatus(*s);
    if (!status) return UsageError(status.error());
    filter.status = *status;
  }
  if (args->Has("deleted")) filter.deleted = RecordFilter::Deleted::kOnly;

  auto store = OpenStore(*args);
  if (!store) return ReportOpenError(store.error());
  RecordStore records(store->get());
  auto list = records.List(filter);
  if (!list) return ReportError(list.error());

  if (args->Has("json")) {
    nlohmann::json out = nlohmann::json::array();
    for (const Record& r : *list) {
      out.push_back({{"id", r.id},
                     {"form_id", r.form_id},
                     {"form_version", r.form_version},
                     {"status", RecordStatusName(r.status)},
                     {"village", r.area.village},
                     {"author", r.author},
                     {"updated_ms", r.updated_ms}});
    }
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  for (const Record& r : *list) {
    std::cout << r.id << "  " << r.form_id << "  " << RecordStatusName(r.status) << "  "
              << (r.area.village.empty() ? "-" : r.area.village) << "  "
              << FormatTime(r.updated_ms) << "\n";
  }
  std::cout << list->size() << " record(s)\n";
  return kExitOk;
}

int CmdShow(int argc, char** argv, int first) {
  static const char kUsage[] =
      "Usage: tianye show ID\nPrints one record with its answers and attachments as JSON.\n";
  if (WantsHelp(argc, argv, first, kUsage)) return kExitOk;
  auto args = ParseArgs(argc, argv, first, kStoreOptions, {});
  if (!args) return UsageError(args.error());
  if (args->positional.size() != 1) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  auto store = OpenStore(*args);
  if (!store) return ReportOpenError(store.error());
  RecordStore records(store->get());
  auto r = records.Get(args->positional[0]);
  if (!r) return ReportError(r.error());
  AttachmentStore attachments(store->get());
  auto files = attachments.ListForRecord(r->id);
  if (!files) return ReportError(files.error());

  nlohmann::json out = {{"id", r->id},
                        {"form_id", r->form_id},
                        {"form_version", r->form_version},
                        {"status", RecordStatusName(r->status)},
                        {"area", {{"county", r->area.county},
                                  {"township", r->area.township},
                                  {"village", r->area.village}}},
                        {"author", r->author},
                        {"created", FormatTime(r->created_ms)},
                        {"updated", FormatTime(r->updated_ms)},
                        {"values", nlohmann::json::parse(r->values_json)},
                        {"attachments", nlohmann::json::array()}};
  if (r->deleted_ms) out["deleted"] = FormatTime(*r->deleted_ms);
  if (!r->review_comment.empty()) out["review_comment"] = r->review_comment;
  for (const RecordAttachment& a : *files) {
    out["attachments"].push_back(
        {{"field", a.field}, {"sha256", a.info.sha256}, {"size", a.info.size}, {"mime", a.info.mime}});
  }
  std::cout << out.dump(2) << "\n";
  return kExitOk;
}

int CmdPasswd(int argc, char** argv, int first) {
  static const char kUsage[] =
      "Usage: tianye passwd [--store PATH] [--passphrase-file FILE] [--new-passphrase-file FILE]\n"
      "Re-encrypts the store under a new passphrase. The current one comes from\n"
      "--passphrase-file or TIANYE_PASSPHRASE; the new one from --new-passphrase-file,\n"
      "else it is asked for twice on the terminal.\n";
  if (WantsHelp(argc, argv, first, kUsage)) return kExitOk;
  auto args = ParseArgs(argc, argv, first, With(kStoreOptions, {"new-passphrase-file"}), {});
  if (!args) return UsageError(args.error());
  auto store = OpenStore(*args);
  if (!store) return ReportOpenError(store.error());
  auto fresh = ReadPassphrase(*args, "new-passphrase-file", /*confirm=*/true);
  if (!fresh) return ReportError(fresh.error());
  Status s = (*store)->Rekey(*fresh);
  Wipe(*fresh);
  if (!s.ok()) return ReportError(s);
  std::cout << "Passphrase changed for " << (*store)->path() << "\n";
  return kExitOk;
}

}  // namespace tianye::cli
