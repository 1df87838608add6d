// GET /v1/review/dashboard: the plan's indicators for the user's scope.
#include <nlohmann/json.hpp>

#include "app.h"
#include "tianye/dashboard.h"

namespace tianye::server {
namespace {

using nlohmann::json;

json FiguresJson(const AreaFigures& f) {
  auto ratio = [](int64_t a, int64_t b) { return b > 0 ? json(static_cast<double>(a) / static_cast<double>(b)) : json(); };
  return {{"area", f.area},
          {"approved", f.approved},
          {"gps_outside", f.gps_outside},
          {"toilet",
           {{"records", f.toilet_records},
            {"in_scope", f.in_scope},
            {"sanitary", f.sanitary},
            {"harmless", f.harmless},
            {"coverage", ratio(f.sanitary, f.in_scope)},
            {"problem_households", f.problem_households},
            {"problems", f.problems},
            {"problems_fixed", f.problems_fixed},
            {"overdue", f.overdue}}},
          {"housing",
           {{"records", f.housing_records}, {"grades", f.grades}, {"secured", f.secured},
            {"secured_rate", ratio(f.secured, f.housing_records)}}},
          {"germplasm", {{"records", f.germplasm_records}, {"samples", f.samples}, {"at_risk", f.at_risk}}}};
}

}  // namespace

// GET /v1/review/dashboard?level=county|township|village&area=CODE
http::Response ServerApp::DashboardRoute(const http::Request& r, const Principal& who) {
  if (!IsReviewer(who)) return TypedError(Status::PermissionDenied("review_forbidden: only a supervisor sees the dashboard"));
  const std::string& level_text = r.Query("level");
  AreaLevel level = AreaLevel::kCounty;
  if (level_text == "township") {
    level = AreaLevel::kTownship;
  } else if (level_text == "village") {
    level = AreaLevel::kVillage;
  } else if (!level_text.empty() && level_text != "county") {
    return http::Response::Error(400, "invalid_argument", "level is county, township or village");
  }
  Result<Dashboard> d = ComputeDashboard(*reads_.store, who, level, r.Query("area"));
  if (!d) return TypedError(d.error());
  json areas = json::array();
  for (const AreaFigures& f : d->areas) areas.push_back(FiguresJson(f));
  json alerts = json::array();
  for (const HousingAlert& a : d->alerts) {
    alerts.push_back({{"record", a.record_id}, {"village", a.village}, {"grade", a.grade}, {"red", a.red}});
  }
  json per_inspector = json::array();
  for (const InspectorDay& i : d->per_inspector) {
    per_inspector.push_back({{"author", i.author}, {"day", i.day}, {"records", i.records}});
  }
  return http::Response::Json(200, json{{"target", {{"toilet_coverage", kToiletCoverageTarget}}},
                                        {"areas", areas},
                                        {"total", FiguresJson(d->total)},
                                        {"alerts", alerts},
                                        {"per_inspector", per_inspector},
                                        {"median_minutes", d->median_minutes}}
                                       .dump());
}

}  // namespace tianye::server
