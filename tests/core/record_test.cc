#include "tianye/record.h"

#include <gtest/gtest.h>

#include "store_testing.h"
#include "test_util.h"
#include "tianye/uuid.h"

namespace tianye {
namespace {

using testing::OpenOrFail;
using testing::TempDir;

class StepClock final : public Clock {
 public:
  int64_t NowMillis() const override { return now_ += 1000; }

 private:
  mutable int64_t now_ = 1764460800000;
};

class RecordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrFail(dir_.File("s.db"), testing::kPassphrase, &clock_);
    ASSERT_NE(store_, nullptr);
    records_ = std::make_unique<RecordStore>(store_.get());
  }
  NewRecord Toilet(const std::string& village) {
    return {.form_id = "toilet",
            .form_version = "2026.1",
            .area = {"140622", "140622100", village},
            .author = "李秀英",
            .values_json = R"({"hh_head_name":"张德明","tank_volume":1.5,"problems":[]})"};
  }
  TempDir dir_;
  StepClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<RecordStore> records_;
};

TEST_F(RecordTest, CreateAssignsUuidV7AndTimestamps) {
  auto r = records_->Create(Toilet("140622100201"));
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_TRUE(IsCanonicalUuid(r->id));
  EXPECT_EQ(r->id[14], '7');
  EXPECT_EQ(r->status, RecordStatus::kDraft);
  EXPECT_EQ(r->created_ms, r->updated_ms);

  auto got = records_->Get(r->id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->form_id, "toilet");
  EXPECT_EQ(got->form_version, "2026.1");
  EXPECT_EQ(got->area, (AreaCodes{"140622", "140622100", "140622100201"}));
  EXPECT_EQ(got->author, "李秀英");
  EXPECT_EQ(got->values_json, R"({"hh_head_name":"张德明","problems":[],"tank_volume":1.5})");
  EXPECT_FALSE(got->deleted_ms.has_value());
}

TEST_F(RecordTest, CreateRejectsBadInput) {
  NewRecord nr = Toilet("1");
  nr.values_json = "[1,2]";
  EXPECT_EQ(records_->Create(nr).error().code(), StatusCode::kInvalidArgument);
  nr.values_json = "{\"a\":";
  EXPECT_EQ(records_->Create(nr).error().code(), StatusCode::kInvalidArgument);
  nr.values_json = "{\"a\":\"\xff\xfe\"}";  // not UTF-8
  EXPECT_EQ(records_->Create(nr).error().code(), StatusCode::kInvalidArgument);
  nr = Toilet("1");
  nr.form_id = "";
  EXPECT_EQ(records_->Create(nr).error().code(), StatusCode::kInvalidArgument);
  nr = Toilet("1");
  nr.id = "not-a-uuid";
  EXPECT_EQ(records_->Create(nr).error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*records_->Count({.deleted = RecordFilter::Deleted::kInclude}), 0);
}

TEST_F(RecordTest, DuplicateIdIsAlreadyExists) {
  auto r = records_->Create(Toilet("1"));
  ASSERT_TRUE(r.has_value());
  NewRecord again = Toilet("2");
  again.id = r->id;
  EXPECT_EQ(records_->Create(again).error().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(records_->Get(r->id)->area.village, "1");
}

TEST_F(RecordTest, UpdateChangesFieldsAndUpdatedTime) {
  auto r = records_->Create(Toilet("1"));
  ASSERT_TRUE(r.has_value());
  Record changed = *r;
  changed.status = RecordStatus::kFinalized;
  changed.values_json = R"({"hh_head_name":"张德明","tank_volume":2})";
  changed.area.village = "140622100202";
  auto u = records_->Update(changed);
  ASSERT_TRUE(u.has_value()) << u.error().ToString();
  EXPECT_EQ(u->status, RecordStatus::kFinalized);
  EXPECT_EQ(u->area.village, "140622100202");
  EXPECT_EQ(u->created_ms, r->created_ms);
  EXPECT_GT(u->updated_ms, r->updated_ms);

  Record ghost = changed;
  ghost.id = NewUuidV7(clock_);
  EXPECT_EQ(records_->Update(ghost).error().code(), StatusCode::kNotFound);
  EXPECT_EQ(records_->Get(ghost.id).error().code(), StatusCode::kNotFound);
}

TEST_F(RecordTest, ListFiltersAndPages) {
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) {
    NewRecord nr = Toilet(std::to_string(i));
    if (i % 2 == 1) nr.form_id = "housing";
    if (i % 5 == 0) nr.status = RecordStatus::kFinalized;
    ids.push_back(records_->Create(nr)->id);
  }
  EXPECT_EQ(records_->List({})->size(), 10u);
  EXPECT_EQ(records_->List({.form_id = "housing"})->size(), 5u);
  EXPECT_EQ(*records_->Count({.form_id = "toilet", .status = RecordStatus::kFinalized}), 1);
  EXPECT_EQ(*records_->Count({.status = RecordStatus::kFinalized}), 2);

  // Paging walks every record once, in creation order.
  std::vector<std::string> seen;
  RecordFilter page{.limit = 3};
  while (true) {
    auto batch = records_->List(page);
    ASSERT_TRUE(batch.has_value());
    if (batch->empty()) break;
    for (const Record& r : *batch) seen.push_back(r.id);
    page.after_id = batch->back().id;
  }
  EXPECT_EQ(seen, ids);
}

TEST_F(RecordTest, SoftDeleteHidesAndRestoreBringsBack) {
  auto a = records_->Create(Toilet("1"));
  auto b = records_->Create(Toilet("2"));
  ASSERT_TRUE(records_->Delete(a->id).ok());
  EXPECT_EQ(records_->List({})->size(), 1u);
  auto deleted = records_->List({.deleted = RecordFilter::Deleted::kOnly});
  ASSERT_EQ(deleted->size(), 1u);
  EXPECT_EQ(deleted->front().id, a->id);
  EXPECT_TRUE(deleted->front().deleted_ms.has_value());
  EXPECT_EQ(deleted->front().values_json, a->values_json);  // nothing lost
  ASSERT_TRUE(records_->Restore(a->id).ok());
  EXPECT_EQ(records_->List({})->size(), 2u);
  EXPECT_FALSE(records_->Get(a->id)->deleted_ms.has_value());
  EXPECT_EQ(records_->Delete("01a22b60-71d1-73c5-a418-d451b9cb8e05").code(),
            StatusCode::kNotFound);
}

TEST(RecordStatusTest, NamesRoundTrip) {
  for (RecordStatus s : {RecordStatus::kDraft, RecordStatus::kFinalized, RecordStatus::kSynced,
                         RecordStatus::kApproved, RecordStatus::kReturned, RecordStatus::kRejected}) {
    auto parsed = ParseRecordStatus(RecordStatusName(s));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, s);
  }
  EXPECT_EQ(ParseRecordStatus("Draft").error().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tianye
