// GET /v1/review/dashboard: the plan's indicators for the user's scope.
#include <nlohmann/json.hpp>

#include "app.h"
#include "tianye/dashboard.h"

namespace tianye::server {
namespace {

using nlohmann::json;

json Ratio(double a, double b) { return b > 0 ? json(a / b) : json(); }

int64_t Sum(const std::map<std::string, int64_t>& m) {
  int64_t n = 0;
  for (const auto& [k, v] : m) n += v;
  return n;
}

// One area's figures; `*_rate` and `coverage` are the §6 ratios (null when
// the denominator is 0), named in docs/review-api.md.
json FiguresJson(const AreaFigures& f) {
  const int64_t all_samples = Sum(f.samples);
  const int64_t crop_samples = f.samples.count("crop") ? f.samples.at("crop") : 0;
  return {{"area", f.area},
          {"approved", f.approved},
          {"gps_outside", f.gps_outside},
          {"gps_inaccurate", f.gps_inaccurate},
          {"short_surveys", f.short_surveys},
          {"form_problems", f.form_problems},
          {"photos_missing", f.photos_missing},
          {"toilet",
           {{"records", f.toilet_records},
            {"in_scope", f.in_scope},
            {"households_inspected", f.toilet_households},
            {"sanitary", f.sanitary},
            {"harmless", f.harmless},
            {"coverage", Ratio(f.sanitary, f.in_scope)},
            {"harmless_rate", Ratio(f.harmless, f.in_scope)},
            {"renovated", f.renovated},
            {"in_use_normal", f.in_use_normal},
            {"in_use_rate", Ratio(f.in_use_normal, f.renovated)},
            {"problem_households", f.problem_households},
            {"problem_rate", Ratio(f.problem_households, f.renovated)},
            {"problem_cleared", f.problem_cleared},
            {"cleared_rate", Ratio(f.problem_cleared, f.problem_households)},
            {"problems", f.problems},
            {"problems_fixed", f.problems_fixed},
            {"fixed_rate", Ratio(f.problems_fixed, f.problems)},
            {"fixed_on_time", f.fixed_on_time},
            {"on_time_rate", Ratio(f.fixed_on_time, f.problems_fixed)},
            {"overdue", f.overdue},
            {"frozen", f.frozen},
            {"frozen_rate", Ratio(f.frozen, f.renovated)},
            {"with_toilet", f.with_toilet},
            {"manure_managed", f.manure_managed},
            {"manure_rate", Ratio(f.manure_managed, f.with_toilet)},
            {"old_latrine_cleared", f.old_latrine_cleared},
            {"old_latrine_rate", Ratio(f.old_latrine_cleared, f.renovated)},
            {"satisfaction_answered", f.satisfaction_answered},
            {"satisfied", f.satisfied},
            {"satisfaction_rate", Ratio(f.satisfied, f.satisfaction_answered)},
            {"subsidy_mean", Ratio(f.subsidy_yuan, f.subsidy_answered)},
            {"self_paid_share", Ratio(f.paid_yuan, f.subsidy_yuan + f.paid_yuan)},
            {"sanitary_types", f.sanitary_types}}},
          {"housing",
           {{"records", f.housing_records},
            {"grades", f.grades},
            {"danger_rate", Ratio((f.grades.count("C") ? f.grades.at("C") : 0) + (f.grades.count("D") ? f.grades.at("D") : 0),
                                  f.housing_records)},
            {"danger_by_category", f.danger_by_category},
            {"danger_by_structure", f.danger_by_structure},
            {"no_house", f.no_house},
            {"secured", f.secured},
            {"secured_rate", Ratio(f.secured, f.housing_records)},
            {"new_danger", f.new_danger},
            {"measures", f.measures},
            {"seismic_focus", f.seismic_focus},
            {"seismic_full", f.seismic_full},
            {"seismic_none", f.seismic_none},
            {"seismic_rate", Ratio(f.seismic_full, f.seismic_focus)},
            {"high_risk_structure", f.high_risk_structure},
            {"high_risk_rate", Ratio(f.high_risk_structure, f.housing_records)},
            {"over_30_years", f.over_30_years},
            {"over_30_rate", Ratio(f.over_30_years, f.housing_records)},
            {"site_dangerous", f.site_dangerous},
            {"hazards", f.hazards},
            {"priority_listed", f.priority_listed},
            {"priority_assessed", f.priority_assessed},
            {"priority_rate", Ratio(f.priority_assessed, f.priority_listed)},
            {"grade_overridden", f.grade_overridden},
            {"override_rate", Ratio(f.grade_overridden, f.housing_records)}}},
          {"germplasm",
           {{"records", f.germplasm_records},
            {"samples", f.samples},
            {"landrace_wild", f.landrace_wild},
            {"landrace_rate", Ratio(f.landrace_wild, crop_samples)},
            {"at_risk", f.at_risk},
            {"deposited", f.deposited},
            {"deposited_rate", Ratio(f.deposited, all_samples)},
            {"samples_complete", f.samples_complete},
            {"complete_rate", Ratio(f.samples_complete, all_samples)},
            {"traits", f.traits},
            {"townships_visited", f.townships_visited}}}};
}

}  // namespace

// GET /v1/review/dashboard?level=county|township|village|inspector|month&area=CODE&inspector=NAME&month=YYYY-MM
http::Response ServerApp::DashboardRoute(const http::Request& r, const Principal& who) {
  if (!IsReviewer(who)) return TypedError(Status::PermissionDenied("review_forbidden: only a supervisor sees the dashboard"));
  const std::string& level_text = r.Query("level");
  AreaLevel level = AreaLevel::kCounty;
  if (level_text == "township") {
    level = AreaLevel::kTownship;
  } else if (level_text == "village") {
    level = AreaLevel::kVillage;
  } else if (level_text == "inspector") {
    level = AreaLevel::kInspector;
  } else if (level_text == "month") {
    level = AreaLevel::kMonth;
  } else if (!level_text.empty() && level_text != "county") {
    return http::Response::Error(400, "invalid_argument", "level is county, township, village, inspector or month");
  }
  Result<Dashboard> d =
      ComputeDashboard(*reads_.store, who, level, {r.Query("area"), r.Query("inspector"), r.Query("month")});
  if (!d) return TypedError(d.error());
  json areas = json::array();
  for (const AreaFigures& f : d->areas) areas.push_back(FiguresJson(f));
  json alerts = json::array();
  for (const HousingAlert& a : d->alerts) {
    alerts.push_back({{"record", a.record_id}, {"village", a.village}, {"grade", a.grade}, {"red", a.red}});
  }
  // A household's low-income category is sensitive (the housing form marks
  // `category` so): only admins see it, as in exports.
  json unassessed = json::array();
  for (const UnassessedHousehold& u : d->unassessed) {
    json entry = {{"hh_key", u.hh_key}, {"village", u.village}};
    if (who.role == "admin") entry["category"] = u.category;
    unassessed.push_back(std::move(entry));
  }
  json breeds = json::array();
  for (const BreedFigures& b : d->breeds) {
    breeds.push_back({{"name", b.name}, {"samples", b.samples}, {"males", b.males}, {"females", b.females},
                      {"families", b.families}, {"ne", b.ne}, {"trends", b.trends}});
  }
  json tracked = json::array();
  for (const TrackedFigures& t : d->tracked) {
    tracked.push_back({{"resource", t.resource}, {"year", t.year}, {"samples", t.samples}, {"area_mu", t.area_mu},
                       {"stock", t.stock}});
  }
  json per_inspector = json::array();
  for (const InspectorDay& i : d->per_inspector) {
    per_inspector.push_back({{"author", i.author}, {"day", i.day}, {"records", i.records}});
  }
  json inspectors = json::array();
  for (const InspectorFigures& i : d->inspectors) {
    inspectors.push_back({{"author", i.author}, {"records", i.records}, {"short_surveys", i.short_surveys},
                          {"gps_outside", i.gps_outside}, {"housing_records", i.housing_records},
                          {"grade_overridden", i.grade_overridden}});
  }
  json duplicates = json::array();
  for (const DuplicateHousehold& dup : d->duplicates) {
    duplicates.push_back({{"form", dup.form_id}, {"hh_key", dup.hh_key}, {"round", dup.round}, {"records", dup.record_ids}});
  }
  return http::Response::Json(
      200, json{{"target", {{"toilet_coverage", kToiletCoverageTarget}}},
                {"areas", areas},
                {"total", FiguresJson(d->total)},
                {"alerts", alerts},
                {"unassessed", unassessed},
                {"per_inspector", per_inspector},
                {"inspectors", inspectors},
                {"per_month", d->per_month},
                {"median_minutes", d->median_minutes},
                {"median_sync_hours", d->median_sync_hours},
                {"median_days_to_done", d->median_days_to_done >= 0 ? json(d->median_days_to_done) : json()},
                {"duplicates", duplicates},
                {"breeds", breeds},
                {"tracked", tracked}}
               .dump(-1, ' ', false, json::error_handler_t::replace));
}

}  // namespace tianye::server
