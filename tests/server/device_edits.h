// What an inspector does to a device's records between syncs, for the tests
// that sync real device stores through real servers.
#ifndef TIANYE_TESTS_SERVER_DEVICE_EDITS_H_
#define TIANYE_TESTS_SERVER_DEVICE_EDITS_H_

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "tianye/record.h"
#include "tianye/store.h"
#include "tianye/sync.h"

namespace tianye::testing {

// A finalized toilet record of 应县 by `who` with the answers `values`; its
// id ("" with a test failure when it cannot be made).
inline std::string NewToiletRecord(RecordStore& records, const std::string& who, const std::string& values) {
  NewRecord nr;
  nr.form_id = "toilet";
  nr.form_version = "2026.1";
  nr.author = who;
  nr.status = RecordStatus::kFinalized;
  nr.area = {"140623000000", "140623100000", "140623100201"};
  nr.values_json = values;
  auto r = records.Create(nr);
  EXPECT_TRUE(r.has_value()) << r.error().ToString();
  return r ? r->id : "";
}

// Sets one answer of record `id` on the device, as the field client saves it.
inline void SetAnswer(Store* device, const std::string& id, const std::string& key, const std::string& value) {
  RecordStore records(device);
  auto r = records.Get(id);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  nlohmann::json v = nlohmann::json::parse(r->values_json);
  v[key] = value;
  r->values_json = v.dump();
  ASSERT_TRUE(records.Update(*r).has_value());
}

// The record as sync sees it on the device (empty when it is not there).
inline FieldMap DeviceFields(Store* device, const std::string& id) {
  auto r = RecordStore(device).Get(id);
  return r ? RecordFields(*r) : FieldMap{};
}

}  // namespace tianye::testing

#endif  // TIANYE_TESTS_SERVER_DEVICE_EDITS_H_
