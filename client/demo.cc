// `tianye demo`: fills a store with sample records of the three Shuozhou
// surveys so that a new user (and scripts/run) can see the store at work.
#include <array>
#include <cstdint>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "cli.h"
#include "commands.h"
#include "tianye/attachment.h"
#include "tianye/record.h"
#include "tianye/store.h"

namespace tianye::cli {
namespace {

struct Village {
  const char* county;
  const char* township;
  const char* village;
  const char* name;
};

// Real 2022 statistical division codes of Shuozhou villages (NBS edition).
constexpr std::array<Village, 4> kVillages = {{
    {"140603", "140603100", "140603100201", "平鲁区井坪镇堡子沟村"},
    {"140622", "140622100", "140622100201", "应县金城镇东南角村"},
    {"140623", "140623100", "140623100201", "右玉县新城镇邓家村"},
    {"140681", "140681101", "140681101200", "怀仁市吴家窑镇吴家窑村"},
}};

nlohmann::json GermplasmValues(int i, const Village& v) {
  static const char* kNames[] = {"平鲁红山荞麦", "应县紫皮大蒜", "右玉边鸡", "怀仁羔羊"};
  static const char* kCats[] = {"crop", "crop", "livestock", "livestock"};
  // The finalized germplasm records (i = 3, 15, 27, ...) each name another
  // resource: 应县紫皮大蒜, 右玉边鸡, 怀仁羔羊, 平鲁红山荞麦, ...
  const int k = (i + 9) / 12 % 4;
  nlohmann::json sample = {{"res_cat", kCats[k]},
                           {"local_name", kNames[k]},
                           {"area_trend", i / 4 % 2 == 0 ? "near_lost" : "stable"},
                           {"s_note", "农户自留种，种植历史五十年以上，耐旱耐寒"}};
  if (k < 2) {
    sample["area_mu"] = std::to_string(40 + i * 5);
  } else {
    sample["n_male"] = std::to_string(20 + i);
    sample["n_female"] = std::to_string(200 + 3 * i);
    sample["n_total"] = std::to_string(220 + 4 * i);
    sample["pop_trend"] = i % 2 ? "stable" : "decreasing";
  }
  return {{"survey_date", "2026-08-1" + std::to_string(i % 10)},
          {"enum_name", "王建国"},
          {"county", v.county},
          {"town", v.township},
          {"village", v.village},
          {"gps", "39.6" + std::to_string(i % 10) + " 112.4" + std::to_string(i % 10) + " 1350 6"},
          {"start", "2026-08-1" + std::to_string(i % 10) + "T09:00:00+08:00"},
          {"end", "2026-08-1" + std::to_string(i % 10) + "T09:" + std::to_string(20 + i % 30) + ":00+08:00"},
          {"gps_in_area", i % 5 == 4 ? "0" : "1"},
          {"n_at_risk", i / 4 % 2 == 0 ? "1" : "0"},
          {"sample", nlohmann::json::array({sample})}};
}

nlohmann::json ToiletValues(int i, const Village& v) {
  static const char* kTypes[] = {"three_compartment", "double_urn", "urine_diversion", "dry_pit"};
  return {{"survey_date", "2026-09-0" + std::to_string(1 + i % 9)},
          {"enum_name", "李秀英"},
          {"county", v.county},
          {"town", v.township},
          {"village", v.village},
          {"hh_no", std::to_string(100 + i)},
          {"hh_head_name", "张德明"},
          {"has_toilet", "yes"},
          {"toilet_type", kTypes[i % 4]},
          {"tank_volume", 1.5 + (i % 3) * 0.5},
          {"start", "2026-09-0" + std::to_string(1 + i % 9) + "T10:00:00+08:00"},
          {"end", "2026-09-0" + std::to_string(1 + i % 9) + "T10:" + std::to_string(10 + i % 40) + ":00+08:00"},
          {"gps_in_area", "1"},
          // What the form's calculations give for these answers.
          {"in_scope", "1"},
          {"renovated", "yes"},
          {"is_sanitary", i / 4 % 5 == 4 ? "0" : "1"},
          {"is_harmless", i / 4 % 3 == 0 ? "0" : "1"},
          {"problem_found", i / 4 % 2 == 0 ? "1" : "0"},
          {"n_overdue", i / 4 % 3 == 0 ? "1" : "0"},
          {"problems", {{{"prob_cat", "product"},
                         {"prob_item", "cover_broken"},
                         {"prob_status", i / 4 % 2 == 0 ? "pending" : "fixed"},
                         {"deadline", "2026-10-31"},
                         {"prob_desc", "化粪池盖板破损，冬季有冻裂风险"}}}}};
}

nlohmann::json HousingValues(int i, const Village& v) {
  static const char* kGrades[] = {"A", "B", "C", "D"};
  return {{"survey_date", "2026-10-1" + std::to_string(i % 10)},
          {"enum_name", "赵志刚"},
          {"county", v.county},
          {"town", v.township},
          {"village", v.village},
          {"hh_no", std::to_string(200 + i)},
          {"hh_head_name", "刘桂兰"},
          {"category", (i % 2 == 0 || i % 8 == 3) ? "dibao" : "none"},
          {"structure", "brick_wood"},
          {"build_year", 1978 + i},
          {"overall_grade", kGrades[(i + i / 4) % 4]},
          {"grade_final", kGrades[(i + i / 4) % 4]},
          {"temp_housing", "stays"},
          {"secured", (i + i / 4) % 4 < 2 || i / 4 % 3 == 1 ? "1" : "0"},
          {"start", "2026-10-1" + std::to_string(i % 10) + "T14:00:00+08:00"},
          {"end", "2026-10-1" + std::to_string(i % 10) + "T14:" + std::to_string(3 + i % 50) + ":00+08:00"},
          {"gps_in_area", "1"},
          {"disposal_note", "屋面局部渗漏，建议维修加固"}};
}

// A small real image (a 48x32 BMP gradient) standing in for a site photo.
class DemoPhoto final : public ByteSource {
 public:
  explicit DemoPhoto(int seed) {
    const int w = 48, h = 32, row = w * 3, size = 54 + row * h;
    auto le = [this](uint32_t v, int n) {
      for (int k = 0; k < n; ++k) bytes_ += static_cast<char>((v >> (8 * k)) & 0xff);
    };
    bytes_ = "BM";
    le(size, 4), le(0, 4), le(54, 4), le(40, 4), le(w, 4), le(h, 4), le(1, 2), le(24, 2);
    le(0, 4), le(row * h, 4), le(2835, 4), le(2835, 4), le(0, 4), le(0, 4);
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        bytes_ += static_cast<char>(x * 5 + seed * 7);
        bytes_ += static_cast<char>(y * 8);
        bytes_ += static_cast<char>(120 + seed * 13);
      }
    }
  }
  Result<size_t> Read(char* buffer, size_t size) override {
    size_t n = std::min(size, bytes_.size() - pos_);
    std::copy_n(bytes_.data() + pos_, n, buffer);
    pos_ += n;
    return n;
  }

 private:
  std::string bytes_;
  size_t pos_ = 0;
};

}  // namespace

int CmdDemo(int argc, char** argv, int first) {
  static const char kUsage[] =
      "Usage: tianye demo [--count N] [--store PATH] [--passphrase-file FILE]\n"
      "Writes N (default 12) sample records of the three surveys, each with a\n"
      "photo, into an existing store, and prints what it wrote.\n";
  if (WantsHelp(argc, argv, first, kUsage)) return kExitOk;
  auto args = ParseArgs(argc, argv, first, {"store", "passphrase-file", "count"}, {});
  if (!args) {
    ReportError(args.error());
    return kExitUsage;
  }
  int count = 12;
  if (auto c = args->Get("count")) {
    try {
      count = std::stoi(*c);
    } catch (...) {
      count = -1;
    }
    if (count < 1 || count > 100000) {
      ReportError(Status::InvalidArgument("--count must be a number from 1 to 100000"));
      return kExitUsage;
    }
  }
  auto store = OpenStore(*args);
  if (!store) return ReportOpenError(store.error());
  RecordStore records(store->get());
  AttachmentStore attachments(store->get());

  static const char* kForms[] = {"germplasm", "toilet", "housing"};
  static const char* kPhotoField[] = {"photo_main", "photo_room", "photo_front"};
  std::map<std::string, int> per_form;
  auto tx = (*store)->Begin();
  if (!tx) return ReportError(tx.error());
  for (int i = 0; i < count; ++i) {
    // Every fourth record is finalized; the village shifts by one each round
    // of four, so finalized records (what syncs) span every county and form.
    const Village& v = kVillages[(i + i / 4) % kVillages.size()];
    int form = i % 3;
    nlohmann::json values = form == 0   ? GermplasmValues(i, v)
                            : form == 1 ? ToiletValues(i, v)
                                        : HousingValues(i, v);
    NewRecord nr;
    nr.form_id = kForms[form];
    nr.form_version = "2026.1";
    nr.area = {v.county, v.township, v.village};
    nr.author = "demo-inspector";
    nr.status = i % 4 == 3 ? RecordStatus::kFinalized : RecordStatus::kDraft;
    // The photo first: its answer names it ("<sha256>.bmp"), as the form's
    // photo questions do.
    DemoPhoto photo(i);
    PutOptions put;
    put.mime = "image/bmp";
    auto info = attachments.Put(photo, put);
    if (!info) return ReportError(info.error());
    values[kPhotoField[form]] = info->sha256 + ".bmp";
    nr.values_json = values.dump();
    auto r = records.Create(nr);
    if (!r) return ReportError(r.error());
    Status s = attachments.Link(r->id, kPhotoField[form], info->sha256);
    if (!s.ok()) return ReportError(s);
    ++per_form[nr.form_id];
    std::cout << "  " << r->id << "  " << nr.form_id << "  " << v.name << "  "
              << RecordStatusName(nr.status) << "  photo " << info->sha256.substr(0, 12) << "…\n";
  }
  Status s = tx->Commit();
  if (!s.ok()) return ReportError(s);
  std::cout << "Wrote " << count << " records (";
  bool first_form = true;
  for (const auto& [form, n] : per_form) {
    std::cout << (first_form ? "" : ", ") << form << " " << n;
    first_form = false;
  }
  std::cout << ") with one photo each into " << (*store)->path() << "\n";
  return kExitOk;
}

}  // namespace tianye::cli
