// `tianye demo`: fills a store with sample records of the three Shuozhou
// surveys so that a new user (and scripts/run) can see the store at work.
// Each record is answered through its form's session, as a surveyor answers
// it: calculations, relevance and checks are the form's own, and a
// finalized demo record passes every check of its form.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cli.h"
#include "commands.h"
#include "tianye/attachment.h"
#include "tianye/clock.h"
#include "tianye/form_session.h"
#include "tianye/form_store.h"
#include "tianye/record.h"
#include "tianye/store.h"

namespace tianye::cli {
namespace {

struct Village {
  const char* county;
  const char* township;
  const char* village;
  const char* name;
  double lat, lon;  // about where the village lies
};

// Real 2022 statistical division codes of Shuozhou villages (NBS edition).
constexpr std::array<Village, 4> kVillages = {{
    {"140603", "140603100", "140603100201", "平鲁区井坪镇堡子沟村", 39.53, 112.29},
    {"140622", "140622100", "140622100201", "应县金城镇东南角村", 39.55, 113.19},
    {"140623", "140623100", "140623100201", "右玉县新城镇邓家村", 39.99, 112.47},
    {"140681", "140681101", "140681101200", "怀仁市吴家窑镇吴家窑村", 39.83, 113.10},
}};

// The records of one form that are finalized come every twelfth (i = 3,
// 15, 27, ... for germplasm; 7, 19, ... toilets; 11, 23, ... housing), so
// each form's answers vary with k = i / 12, and the finalized
// records, which sync, show every kind: grades, open and fixed problems,
// low-income categories, works done and not.
const char* const kHeads[] = {"张德明", "刘桂兰", "王润生", "李秀英", "赵永福", "孙美玲", "郭二旦"};

// The session's clock: the demo sets it to when each survey starts and ends.
class DemoClock final : public Clock {
 public:
  int64_t NowMillis() const override { return ms_; }
  // China time (UTC+8).
  void Set(int month, int day, int hour, int minute) {
    using namespace std::chrono;
    const sys_days date = year{2026} / month / day;
    ms_ = duration_cast<milliseconds>(date.time_since_epoch() + hours{hour - 8} + minutes{minute}).count();
  }

 private:
  int64_t ms_ = 0;
};

std::string Date(int month, int day) {
  char out[16];
  std::snprintf(out, sizeof out, "2026-%02d-%02d", month, day);
  return out;
}

using Answers = std::vector<std::pair<std::string, std::string>>;

// Gives `answers` in order, adding the repeat instances their paths name
// ("problems[1]/prob_cat" adds the first problem). An answer the form does
// not take is an error naming it: the demo follows the shipped forms.
Status Answer(FormSession& s, const Answers& answers) {
  for (const auto& [path, value] : answers) {
    for (size_t open = path.find('['); open != std::string::npos; open = path.find('[', open + 1)) {
      const std::string repeat = path.substr(0, open);
      const int want = std::stoi(path.substr(open + 1));
      Result<int> have = s.RepeatCount(repeat);
      if (!have) return have.error();
      for (int n = *have; n < want; ++n) TIANYE_RETURN_IF_ERROR(s.AddRepeat(repeat).error());
    }
    if (auto changed = s.SetAnswer(path, value); !changed) {
      return Status(changed.error().code(), path + ": " + changed.error().message());
    }
    if (Result<NodeState> state = s.State(path); state && !state->error.empty()) {
      return Status::InvalidArgument(path + " = " + value + ": " + state->error);
    }
  }
  return Status::Ok();
}

// Answers every required question still empty and shown with the first
// value it takes (the first choice other than none/other, a photo, the
// survey date, a small number, a short text), as a surveyor who had
// nothing to note would.
void AnswerTheRest(FormSession& s, const std::string& photo, const std::string& date) {
  static const char* const kNumbers[] = {"1", "2", "5", "10", "30"};
  for (int round = 0; round < 4; ++round) {
    for (const NodeState& n : s.States()) {
      const Question& q = s.form().questions()[n.question];
      if (!n.relevant || n.read_only || !n.required || !n.value.empty() || !q.holds_value()) continue;
      std::vector<std::string> tries;
      if (auto choices = s.Choices(n.path); choices.has_value()) {
        for (const ChoiceOption& c : *choices) {
          if (c.name != "none" && c.name != "other") tries.push_back(c.name);
        }
      } else if (q.type == QuestionType::kImage) {
        tries = {photo};
      } else if (q.type == QuestionType::kDate) {
        tries = {date};
      } else if (q.type == QuestionType::kInteger || q.type == QuestionType::kDecimal) {
        tries.assign(std::begin(kNumbers), std::end(kNumbers));
      } else if (q.type == QuestionType::kAcknowledge) {
        tries = {"OK"};
      } else {
        tries = {"正常"};
      }
      for (const std::string& v : tries) {
        if (!s.SetAnswer(n.path, v).has_value()) break;
        if (s.State(n.path)->error.empty()) break;
      }
    }
  }
}

// The header every form shares: who, where, the GPS point and consent.
// Every tenth record's point lies outside Shuozhou (a surveyor's phone
// that kept an old fix); every seventh has a poor accuracy.
Answers Header(int i, const Village& v, const std::string& date, const char* unit) {
  char gps[64];
  const bool away = i % 10 == 9;
  std::snprintf(gps, sizeof gps, "%.5f %.5f %d %d", away ? 40.55 : v.lat + (i % 17) * 0.001,
                away ? 112.60 : v.lon + (i % 13) * 0.001, 1200 + i % 300, i % 7 == 6 ? 65 : 4 + i % 8);
  Answers a = {{"survey_date", date}, {"enum_unit", unit},   {"county", v.county}, {"town", v.township},
               {"village", v.village}, {"gps", gps}};
  if (away) a.emplace_back("gps_warn", "OK");
  a.emplace_back("consent", "yes");
  return a;
}

void Append(Answers& to, const Answers& more) { to.insert(to.end(), more.begin(), more.end()); }

Answers Germplasm(int i, const Village& v, const std::string& date, const std::string& photo) {
  // The finalized germplasm records (i = 3, 15, 27, ...) each name another
  // of the plan's tracked resources: 应县紫皮大蒜, 右玉边鸡, 怀仁绿豆, 平鲁红山荞麦, ...
  struct Resource {
    const char* name;
    const char* crop;  // crops.csv, or nullptr for livestock
    const char* family;
    const char* genus;
    const char* latin;
  };
  static const Resource kResources[] = {
      {"平鲁红山荞麦", "buckwheat", "蓼科", "荞麦属", "Fagopyrum esculentum"},
      {"应县紫皮大蒜", "garlic", "石蒜科", "葱属", "Allium sativum"},
      {"右玉边鸡", nullptr, "", "", ""},
      {"怀仁绿豆", "mung_bean", "豆科", "豇豆属", "Vigna radiata"},
  };
  const Resource& r = kResources[(i + 9) / 12 % 4];
  const int k = i / 12;  // the answers vary with it (see above kHeads)
  const bool crop = r.crop != nullptr;
  Answers a = Header(i, v, date, crop ? "seed_station" : "animal_husbandry");
  Append(a, {{"enum_name", "王建国"},
             {"programme", crop ? "crop_census" : "livestock_census"},
             {"survey_kind", k % 2 == 0 ? "rescue" : "census_collection"},
             {"site_type", crop ? "farm_field" : "breeding_farm"},
             {"provider_name", kHeads[i % 7]},
             {"provider_role", "farmer"},
             {"benefit_note", "yes"},
             {"visit_photo", photo},
             {"sample[1]/res_cat", crop ? "crop" : "livestock"},
             {"sample[1]/sample_seq", std::to_string(1 + i % 999)},
             {"sample[1]/local_name", r.name},
             {"sample[1]/resource_name", r.name},
             {"sample[1]/photo_main", photo},
             {"sample[1]/s_note", "农户自留种，种植历史五十年以上，耐旱耐寒"}});
  if (crop) {
    Append(a, {{"sample[1]/photo_2", photo},
               {"sample[1]/crop_name", r.crop},
               {"sample[1]/family_name", r.family},
               {"sample[1]/genus_name", r.genus},
               {"sample[1]/latin_name", r.latin},
               {"sample[1]/germplasm_type", "landrace"},
               {"sample[1]/origin", "local"},
               {"sample[1]/years_grown", std::to_string(30 + i % 40)},
               {"sample[1]/growth_habit", "annual"},
               {"sample[1]/reproduction", std::string(r.crop) == "garlic" ? "asexual" : "sexual"},
               {"sample[1]/sow_month", "5"},
               {"sample[1]/harvest_month", "9"},
               {"sample[1]/main_traits", k % 2 ? "drought cold" : "quality drought"},
               {"sample[1]/area_mu", std::to_string(40 + i * 5 % 400)},
               {"sample[1]/n_growers", std::to_string(10 + i % 50)},
               {"sample[1]/area_trend", k % 2 == 0 ? "near_lost" : "stable"},
               {"sample[1]/uses", "food"},
               {"sample[1]/use_parts", std::string(r.crop) == "garlic" ? "bulb" : "seed"},
               {"sample[1]/sample_type", std::string(r.crop) == "garlic" ? "bulb" : "seed"},
               {"sample[1]/sample_qty", "500"},
               {"sample[1]/sample_unit", "g"}});
  } else {
    Append(a, {{"sample[1]/lv_species", "chicken"},
               {"sample[1]/breed_type", "local"},
               {"sample[1]/natl_list", "yes"},
               {"sample[1]/holder_type", "cons_farm"},
               {"sample[1]/holder_name", "右玉县边鸡保种场"},
               {"sample[1]/cons_level", "provincial"},
               {"sample[1]/n_male", std::to_string(20 + i % 80)},
               {"sample[1]/n_female", std::to_string(200 + 3 * (i % 300))},
               {"sample[1]/n_young", std::to_string(40 + i % 60)},
               {"sample[1]/n_families", std::to_string(6 + i % 5)},
               {"sample[1]/pop_trend", k % 2 ? "stable" : "decreasing"}});
  }
  a.emplace_back("sample[1]/deposit_to", k % 3 == 0 ? "prov_bank" : "not_yet");
  if (k % 3 == 0) a.emplace_back("sample[1]/deposit_date", date);
  return a;
}

Answers Toilet(int i, const Village& v, const std::string& date, const std::string& photo) {
  static const char* const kTypes[] = {"three_compartment", "double_urn", "three_compartment", "sewer"};
  const int k = i / 12;  // the answers vary with it (see above kHeads)
  const std::string type = kTypes[k % 4];
  const bool tank = type != "sewer";
  const bool leaking = k % 5 == 4;       // not sanitary
  const bool cover_broken = k % 2 == 0;  // not harmless, and a problem to fix (none with sewer)
  Answers a = Header(i, v, date, "township");
  Append(a, {{"enum_name", "李秀英"},
             {"visit_type", k % 3 == 2 ? "recheck" : "initial"},
             {"hh_no", std::to_string(100 + i)},
             {"hh_head_name", kHeads[i % 7]},
             {"hh_members", std::to_string(2 + i % 4)},
             {"residents", std::to_string(1 + i % 2)},
             {"occupancy", k % 7 == 5 ? "seasonal" : "year_round"},
             {"has_toilet", "yes"},
             {"toilet_location", i % 3 ? "yard" : "indoor"},
             {"renovated", "yes"},
             {"renov_year", std::to_string(2019 + i % 6)},
             {"toilet_type", type},
             {"pan_type", "squat"},
             {"flush_mode", "pressure_tank"}});
  if (tank) {
    char volume[16];
    std::snprintf(volume, sizeof volume, "%.1f", 1.5 + (i % 3) * 0.5);
    Append(a, {{"tank_material", "frp"}, {"tank_volume", volume}});
  }
  Append(a, {{"fund_sources", "provincial county household"},
             {"subsidy_yuan", "2000"},
             {"hh_paid_yuan", std::to_string(200 + 10 * (i % 30))},
             {"in_use", k % 4 == 3 ? "occasional" : "normal"}});
  if (k % 4 == 3) a.emplace_back("not_use_reasons", "frozen");
  Append(a, {{"old_latrine", k % 5 == 2 ? "kept" : "demolished"},
             {"satisfaction", k % 3 == 0 ? "satisfied" : k % 3 == 1 ? "basic" : "not"},
             {"has_wall", "yes"},
             {"has_roof", "yes"},
             {"has_door", "yes"},
             {"cleanliness", "clean"},
             {"odor", "slight"},
             {"flies", "few"},
             {"fecal_exposure", "no"},
             {"flush_ok", "yes"}});
  if (tank) {
    Append(a, {{"leak", leaking ? "yes" : "no"},
               {"cover", cover_broken ? "broken" : "intact"},
               {"vent", "ok"},
               {"pipe_state", "ok"},
               {"tank_exposed", "no"},
               {"subsidence", "no"},
               {"tank_full", "no"}});
  } else {
    Append(a, {{"sewer_connected", "yes"}, {"sewer_end", "town_sewer"}, {"sewer_blocked", "no"}});
  }
  const bool froze = k % 4 == 1;
  Append(a, {{"below_frost", "yes"}, {"antifreeze", "deep_burial insulation"}, {"froze_last_winter", froze ? "yes" : "no"}});
  if (froze) a.emplace_back("frozen_months", "2");
  Append(a, {{"emptying_mode", k % 2 ? "self" : "village"}, {"manure_fate", "field_treated"}});
  if (tank && cover_broken) {
    const bool fixed = k % 4 == 2;
    Append(a, {{"problems[1]/prob_cat", "product"},
               {"problems[1]/prob_item", "cover_broken"},
               {"problems[1]/prob_desc", "化粪池盖板破损，冬季有冻裂风险"},
               {"problems[1]/prob_photo_before", photo},
               {"problems[1]/measure", "replace_part"},
               {"problems[1]/responsible", "supplier"},
               {"problems[1]/deadline", "2026-10-31"},
               {"problems[1]/prob_status", fixed ? "fixed" : "pending"}});
    if (fixed) Append(a, {{"problems[1]/fixed_date", date}, {"problems[1]/prob_photo_after", photo}});
  }
  Append(a, {{"photo_room", photo}, {"photo_pan", photo}});
  if (tank) a.emplace_back("photo_tank", photo);
  return a;
}

Answers Housing(int i, const Village& v, const std::string& date, const std::string& photo) {
  // The grade the inspector finds: A, B, C, D, B, C, D, A, ...
  const char grade = "abcd"[(i + i / 4) % 4];
  const int k = i / 12;  // the answers vary with it (see above kHeads)
  static const char* const kStructures[] = {"brick_concrete", "brick_wood", "brick_earth", "earth_wood"};
  const std::string structure = kStructures[grade - 'a'];
  const bool earthen = grade >= 'c';
  const bool eight = std::string(v.county) == "140622" || std::string(v.county) == "140681";  // 应县, 怀仁: 8 度
  Answers a = Header(i, v, date, "county_housing");
  Append(a, {{"enum_name", "赵志刚"},
             {"monitor_round", "annual"},
             {"hh_no", std::to_string(200 + i)},
             {"hh_head_name", kHeads[(i + 3) % 7]},
             {"hh_size", std::to_string(1 + i % 5)},
             {"category", k % 4 == 0 ? "dibao" : k % 4 == 1 ? "none" : k % 4 == 2 ? "tekun" : "dibao_edge"},
             {"no_house", "no"},
             {"only_house", "yes"},
             {"occupied", "year_round"},
             {"prior_support", "no"},
             {"build_year", std::to_string(1960 + i % 60)},
             {"storeys", "1"},
             {"floor_area", std::to_string(45 + i % 60)},
             {"bays", "3"},
             {"structure", structure},
             {"wall_material", earthen ? "adobe" : "solid_brick"},
             {"roof_form", "gable"},
             {"roof_system", "beam_purlin"},
             {"roof_cover", earthen ? "mud_straw" : "grey_tile"},
             {"photo_front", photo},
             {"photo_side", photo},
             {"site_hazards", "none"},
             {"site_safety", "safe"}});
  // The three parts every assessment checks, the weakest one at the grade found.
  const char* const kParts[] = {"foundation", "bearing_wall", "roof_floor"};
  for (int part = 0; part < 3; ++part) {
    const std::string base = "components[" + std::to_string(part + 1) + "]/";
    const char part_grade = part == 1 ? grade : std::min(grade, 'b');
    Append(a, {{base + "comp_type", kParts[part]}, {base + "comp_grade", std::string(1, part_grade) + "_" + kParts[part]}});
    if (part_grade != 'a') a.emplace_back(base + "comp_defects", earthen ? "crack erosion" : "crack");
    if (part_grade >= 'c') Append(a, {{base + "crack_mm", std::to_string(3 + i % 10)}, {base + "comp_photo", photo}});
  }
  const std::string final_grade(1, static_cast<char>(grade - 'a' + 'A'));
  a.emplace_back("grade_final", final_grade);
  a.emplace_back("seismic_manual", eight ? "8" : "7");
  a.emplace_back("seismic_measures", earthen ? "none" : k % 3 ? "ring_beam tie_column" : "ring_beam tie_column wall_ties roof_anchor");
  a.emplace_back("dm_final", earthen ? "none" : k % 3 ? "partial" : "full");
  static const char* const kDisposal[] = {"normal_use", "minor_repair", "reinforce", "rebuild_same_site"};
  a.emplace_back("disposal", kDisposal[grade - 'a']);
  a.emplace_back("disposal_note", "屋面局部渗漏，建议维修加固");
  if (earthen) {
    // C and D houses: the works planned, under way or done.
    static const char* const kStatus[] = {"planned", "in_progress", "completed"};
    const std::string status = kStatus[k % 3];
    Append(a, {{"guarantee_mode", "danger_reno"}, {"in_plan_year", "2026"}, {"measure_status", status}});
    if (status != "planned") a.emplace_back("start_date", "2026-06-01");
    if (status == "completed") a.emplace_back("done_date", date);
    if (status != "completed") a.emplace_back("temp_housing", k % 2 ? "relatives" : "stays");
    a.emplace_back("subsidy_house_yuan", grade == 'd' ? "35000" : "15000");
  }
  Append(a, {{"assessor_1", "赵志刚"}, {"assessor_2", "孙丽华"}, {"assessor_org", "county_housing"}});
  return a;
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

// One demo record of `form`: `answers` given through the form's session
// between `start` and `end` (minutes after `hour`, China time, on the
// survey day). A finalized record gets the rest of its required answers and
// must pass Finalize; a draft stops halfway, where its surveyor left it.
struct Survey {
  int month, day, hour, minutes;
};
struct Answered {
  std::string values_json;
  std::vector<std::string> photo_paths;  // the photo questions answered with the photo
};
Result<Answered> AnswerRecord(std::shared_ptr<const FormDef> form, const Answers& answers, const Survey& when,
                                 const std::string& photo, bool finalize) {
  DemoClock clock;
  clock.Set(when.month, when.day, when.hour, 0);
  SessionOptions options;
  options.clock = &clock;
  options.username = "demo-inspector";
  TIANYE_ASSIGN_OR_RETURN(std::unique_ptr<FormSession> s, FormSession::Open(std::move(form), "", options));
  TIANYE_RETURN_IF_ERROR(Answer(*s, finalize ? answers : Answers(answers.begin(), answers.begin() + answers.size() / 2)));
  auto answered = [&](bool exclude_non_relevant) {
    Answered out{s->ValuesJson(exclude_non_relevant), {}};
    for (const NodeState& n : s->States()) {
      if (n.relevant && n.value == photo && s->form().questions()[n.question].type == QuestionType::kImage) {
        out.photo_paths.push_back(n.path);
      }
    }
    return out;
  };
  if (!finalize) return answered(false);
  AnswerTheRest(*s, photo, Date(when.month, when.day));
  clock.Set(when.month, when.day, when.hour, when.minutes);
  std::vector<FinalizeProblem> problems = s->Finalize();
  if (!problems.empty()) {
    std::string why;
    for (const FinalizeProblem& p : problems) why += "\n  " + p.path + ": " + p.message;
    return Status::Internal("a demo record of " + s->form().id() + " does not pass its form's checks:" + why);
  }
  return answered(true);
}

}  // namespace

int CmdDemo(int argc, char** argv, int first) {
  static const char kUsage[] =
      "Usage: tianye demo [--count N] [--store PATH] [--passphrase-file FILE]\n"
      "Writes N (default 12) sample records of the three surveys, each with a\n"
      "photo, into an existing store with the shipped forms installed (tianye\n"
      "forms install), and prints what it wrote. Every fourth record is\n"
      "finalized, with every answer its form requires; the others are drafts.\n";
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
  FormStore forms(store->get());

  static const char* kForms[] = {"germplasm", "toilet", "housing"};
  std::shared_ptr<const FormDef> defs[3];
  for (int f = 0; f < 3; ++f) {
    auto def = forms.Latest(kForms[f]);
    if (!def) {
      return ReportError(Status(def.error().code(), "the demo needs the shipped forms: tianye forms install "
                                                    "forms/germplasm.json forms/toilet.json forms/housing.json (" +
                                                        def.error().message() + ")"));
    }
    defs[f] = *def;
  }
  std::map<std::string, int> per_form;
  auto tx = (*store)->Begin();
  if (!tx) return ReportError(tx.error());
  for (int i = 0; i < count; ++i) {
    // Every fourth record is finalized; the village shifts by one each round
    // of four, so finalized records (what syncs) span every county and form.
    const Village& v = kVillages[(i + i / 4) % kVillages.size()];
    const int form = i % 3;
    const bool finalized = i % 4 == 3;
    // The photo first: the answers name it ("<sha256>.bmp"), as the form's
    // photo questions do.
    DemoPhoto photo_bytes(i);
    PutOptions put;
    put.mime = "image/bmp";
    auto info = attachments.Put(photo_bytes, put);
    if (!info) return ReportError(info.error());
    const std::string photo = info->sha256 + ".bmp";
    const Survey when = form == 0   ? Survey{8, 10 + i % 10, 9, 20 + i % 30}
                        : form == 1 ? Survey{9, 1 + i % 9, 10, 10 + i % 40}
                                    : Survey{10, 10 + i % 10, 14, 3 + i % 50};
    const std::string date = Date(when.month, when.day);
    const Answers answers = form == 0   ? Germplasm(i, v, date, photo)
                            : form == 1 ? Toilet(i, v, date, photo)
                                        : Housing(i, v, date, photo);
    auto values = AnswerRecord(defs[form], answers, when, photo, finalized);
    if (!values) return ReportError(values.error());
    NewRecord nr;
    nr.form_id = kForms[form];
    nr.form_version = defs[form]->version();
    nr.area = {v.county, v.township, v.village};
    nr.author = "demo-inspector";
    nr.status = finalized ? RecordStatus::kFinalized : RecordStatus::kDraft;
    nr.values_json = values->values_json;
    auto r = records.Create(nr);
    if (!r) return ReportError(r.error());
    for (const std::string& path : values->photo_paths) {
      Status s = attachments.Link(r->id, path, info->sha256);
      if (!s.ok()) return ReportError(s);
    }
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
