// The review queue's queries over a real ledger: scope, filters, text search
// with SQL and LIKE metacharacters, sorting, paging, and a record's history.
#include "tianye/review.h"

#include <gtest/gtest.h>

#include <set>

#include "store_testing.h"
#include "sync_testing.h"
#include "tianye/attachment.h"

namespace tianye {
namespace {

const AreaCodes kYing{"140623000000", "140623100000", "140623100201"};    // 应县
const AreaCodes kYouyu{"140623000000", "140623101000", "140623101203"};   // 应县, another township
const AreaCodes kHuairen{"140681000000", "140681101000", "140681101200"};  // 怀仁市

// Every test runs against both of the server's stores.
class ReviewTest : public ::testing::TestWithParam<testing::ServerStore> {
 protected:
  void SetUp() override {
    for (int i = 0; i < 12; ++i) {
      const AreaCodes& area = i % 3 == 0 ? kHuairen : i % 3 == 1 ? kYing : kYouyu;
      std::string head = i == 5 ? "王%_'; DROP TABLE server_records; --" : "户主" + std::to_string(i);
      ids_.push_back(world_.NewRecord(i % 2, nlohmann::json{{"a", head}, {"b", "b" + std::to_string(i)}}.dump(), area));
      world_.clock().Advance(1000);
    }
    ASSERT_TRUE(world_.SyncAll().ok());
    city_ = {"zhao", "supervisor", "web", {"140600000000"}};
    county_ = {"ying", "supervisor", "web", {"140623000000"}};
  }

  std::set<std::string> Ids(const RecordList& list) {
    std::set<std::string> out;
    for (const RecordRow& r : list.rows) out.insert(r.record_id);
    return out;
  }

  testing::SyncWorld world_{2, {}, GetParam()};
  std::vector<std::string> ids_;
  Principal city_, county_;
};
INSTANTIATE_TEST_SUITE_P(Stores, ReviewTest,
                         testing::BothServerStores(),
                         testing::ServerStoreName);

TEST_P(ReviewTest, ListsOnlyTheScopeAndCountsOnlyIt) {
  ReviewQueries review(&world_.server());
  RecordQuery all;
  all.per_page = 200;
  auto city = review.List(city_, all);
  ASSERT_TRUE(city.has_value()) << city.error().ToString();
  EXPECT_EQ(city->total, 12);
  // An admin's "*" (a regression: the user-name parameter was bound to a
  // statement that no longer named it, and the list failed).
  Principal everywhere{"adm", "admin", "web", {"*"}};
  RecordQuery bare;
  auto admin = review.List(everywhere, bare);
  ASSERT_TRUE(admin.has_value()) << admin.error().ToString();
  EXPECT_EQ(admin->total, 12);
  auto county = review.List(county_, all);
  ASSERT_TRUE(county.has_value());
  EXPECT_EQ(county->total, 8);
  for (const RecordRow& r : county->rows) EXPECT_EQ(r.area.county, "140623000000");
  // A filter outside the scope narrows nothing open: it finds nothing.
  RecordQuery other = all;
  other.area = "140681000000";
  EXPECT_EQ(review.List(county_, other)->total, 0);
  // A township within it.
  RecordQuery township = all;
  township.area = "140623101000";
  EXPECT_EQ(review.List(county_, township)->total, 4);
  // A record of another county is not found, as if it did not exist.
  EXPECT_EQ(review.Get(county_, ids_[0]).error().code(), StatusCode::kNotFound);
  EXPECT_TRUE(review.Get(city_, ids_[0]).has_value());
}

TEST_P(ReviewTest, TextSearchTakesMetacharactersLiterally) {
  ReviewQueries review(&world_.server());
  RecordQuery q;
  q.text = "%_'";
  auto found = review.List(city_, q);
  ASSERT_TRUE(found.has_value()) << found.error().ToString();
  EXPECT_EQ(Ids(*found), std::set<std::string>{ids_[5]});
  q.text = "_";
  EXPECT_EQ(Ids(*review.List(city_, q)), std::set<std::string>{ids_[5]});
  q.text = "户主1";  // 户主1, 户主10, 户主11
  EXPECT_EQ(review.List(city_, q)->total, 3);
  q.text = "DROP TABLE server_records";
  EXPECT_EQ(review.List(city_, q)->total, 1);
  // NUL bytes and other control characters (a query string may carry them).
  for (std::string odd : {std::string("\0\0\0", 3), std::string("户主\0", 7), std::string("\0\0GET\n/v1 x", 12),
                          std::string("\x01\x7f x")}) {
    q.text = odd;
    auto r = review.List(city_, q);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
  }
  RecordQuery all;
  EXPECT_EQ(review.List(city_, all)->total, 12);  // nothing was dropped
}

// The search reads a full-text index the ledger keeps current: Chinese text
// matches anywhere in an answer, other words from their start, and the
// labels of chosen choices (every language of the form) match too.
TEST_P(ReviewTest, TextSearchFindsWordsAndChoiceLabelsAndFollowsEdits) {
  // The test form (sync_testing.h) labels its "kinds" choices in Chinese and English.
  std::string id = world_.NewRecord(0, R"({"a": "张户主12号", "b": "HH-0042 north", "kinds": "pit tank"})", kYing);
  ASSERT_TRUE(world_.SyncAll().ok());
  ReviewQueries review(&world_.server());
  auto find = [&](const std::string& text) {
    RecordQuery q;
    q.text = text;
    q.per_page = 200;
    auto list = review.List(city_, q);
    EXPECT_TRUE(list.has_value()) << text << ": " << list.error().ToString();
    return list ? Ids(*list) : std::set<std::string>{};
  };
  const std::set<std::string> just{id};
  EXPECT_EQ(find("户主12"), just);  // inside the Chinese text
  EXPECT_EQ(find("主1").size(), 4u);  // 户主1, 户主10, 户主11 and 张户主12号
  EXPECT_EQ(find("化粪池"), just);     // a choice's Chinese label
  EXPECT_EQ(find("septic"), just);     // its English label, case ignored
  EXPECT_EQ(find("NORTH"), just);
  EXPECT_TRUE(find("orth").empty());
  EXPECT_EQ(find("dry pi"), just);     // the last word as a prefix
  EXPECT_EQ(find("hh-004"), just);
  EXPECT_TRUE(find("042").empty());    // other words match from their start only
  EXPECT_TRUE(find("化粪池 旱厕").empty());  // one phrase, not any of the words
  EXPECT_TRUE(find("\"").size() == 0 && find("\"*) OR (").empty());  // FTS5 syntax is taken as text
  // An edit on a device reaches the index with the sync.
  world_.Change(0, id, [](nlohmann::json& v) { v["kinds"] = "tank"; v["a"] = "李四"; });
  ASSERT_TRUE(world_.SyncAll().ok());
  EXPECT_TRUE(find("旱厕").empty());
  EXPECT_TRUE(find("户主12").empty());
  EXPECT_EQ(find("李四"), just);
  EXPECT_EQ(find("三格"), just);
}

// A store upgraded from tables without the index (or whose index was
// lost) is indexed once, at the server's start.
TEST_P(ReviewTest, AStaleSearchIndexIsBuiltOnceFromTheAnswers) {
  // Edited answers and chosen choices, so that what the ledger indexed
  // from the answers it held is more than the first push's.
  world_.Change(0, ids_[0], [](nlohmann::json& v) { v["kinds"] = "tank pit"; v["b"] = "改 过"; });
  ASSERT_TRUE(world_.SyncAll().ok());
  internal::Connection& conn = internal::StoreAccess::Conn(world_.server());
  auto bodies = [&] {
    auto s = conn.Prepare(std::string("SELECT ") + (conn.dialect() == internal::Dialect::kSqlite ? "rowid" : "rid") +
                          ", body FROM server_search ORDER BY 1");
    std::vector<std::pair<int64_t, std::string>> out;
    while (s && *s->Step()) out.emplace_back(s->Int(0), s->Text(1));
    return out;
  };
  const auto by_ledger = bodies();
  ASSERT_EQ(by_ledger.size(), 12u);
  ASSERT_TRUE(conn.Exec("DELETE FROM server_search").ok());
  ASSERT_TRUE(world_.server().PutSetting("server.search_stale", "1").ok());
  ReviewQueries review(&world_.server());
  RecordQuery q;
  q.text = "户主1";
  EXPECT_EQ(review.List(city_, q)->total, 0);
  auto built = review.BuildSearchIndexIfStale();
  ASSERT_TRUE(built.has_value()) << built.error().ToString();
  EXPECT_EQ(*built, 12);
  EXPECT_EQ(*review.BuildSearchIndexIfStale(), 0);
  EXPECT_EQ(review.List(city_, q)->total, 3);  // 户主1, 户主10, 户主11
  EXPECT_EQ(bodies(), by_ledger);  // the same index as the ledger's, byte for byte
}

TEST_P(ReviewTest, SortsAndPagesWithoutGapsOrRepeats) {
  ReviewQueries review(&world_.server());
  RecordQuery q;
  q.sort = "created";
  q.descending = false;
  q.per_page = 5;
  std::vector<std::string> seen;
  for (q.page = 1; q.page <= 4; ++q.page) {
    auto page = review.List(city_, q);
    ASSERT_TRUE(page.has_value());
    EXPECT_EQ(page->total, 12);
    for (const RecordRow& r : page->rows) seen.push_back(r.record_id);
  }
  EXPECT_EQ(seen, ids_);  // oldest first, each once; page 4 is past the end and empty
  // An export's walk over every record: the same records in the same order
  // as the pages, whatever the page size; it stops at the first error.
  std::vector<std::string> walked;
  ASSERT_TRUE(review.ForEach(city_, q, [&](const RecordRow& r) {
    walked.push_back(r.record_id);
    return Status::Ok();
  }).ok());
  EXPECT_EQ(walked, ids_);
  walked.clear();
  Status stopped = review.ForEach(city_, q, [&](const RecordRow& r) {
    walked.push_back(r.record_id);
    return walked.size() == 3 ? Status::Internal("disk full") : Status::Ok();
  });
  EXPECT_EQ(stopped.code(), StatusCode::kInternal);
  EXPECT_EQ(walked.size(), 3u);
  q.sort = "author";
  q.page = 1;
  q.per_page = 200;
  auto by_author = review.List(city_, q);
  ASSERT_TRUE(by_author.has_value());
  for (size_t i = 1; i < by_author->rows.size(); ++i) {
    EXPECT_LE(by_author->rows[i - 1].author, by_author->rows[i].author);
  }
}

TEST_P(ReviewTest, RefusesBadQueriesByName) {
  ReviewQueries review(&world_.server());
  auto bad = [&](auto change, const std::string& words) {
    RecordQuery q;
    change(q);
    auto r = review.List(city_, q);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.error().message().find(words), std::string::npos) << r.error().message();
  };
  bad([](RecordQuery& q) { q.sort = "record_id; DROP TABLE x"; }, "unknown sort key");
  bad([](RecordQuery& q) { q.page = 0; }, "page");
  bad([](RecordQuery& q) { q.per_page = 201; }, "per_page");
  bad([](RecordQuery& q) { q.area = "14%"; }, "12-digit");
  bad([](RecordQuery& q) { q.status = "deleted' OR '1"; }, "unknown status");
}

TEST_P(ReviewTest, RecordHistoryKeepsEveryChangeWithWhoAndWhich) {
  world_.Set(1, ids_[1], "a", "改过的户主");
  ASSERT_TRUE(world_.SyncAll().ok());
  ReviewQueries review(&world_.server());
  auto d = review.Get(city_, ids_[1]);
  ASSERT_TRUE(d.has_value()) << d.error().ToString();
  EXPECT_EQ(d->fields.at("a"), "改过的户主");
  std::vector<std::string> values_of_a;
  for (const FieldHistoryEntry& e : d->history) {
    if (e.field == "a") {
      values_of_a.push_back(e.value.value_or(""));
      EXPECT_EQ(e.author, "inspector1");
      EXPECT_EQ(e.device_id, world_.device(1).who.device_id);
    }
  }
  EXPECT_EQ(values_of_a, (std::vector<std::string>{"户主1", "改过的户主"}));
}

TEST_P(ReviewTest, PhotosPendingUntilTheFileReachesTheServer) {
  const std::string photo = "the bytes of a photo of a 三格化粪池";
  const std::string sha = Sha256Hex(photo);
  std::string id = world_.NewRecord(0, nlohmann::json{{"a", "户主"}, {"photo_room", sha + ".jpg"}}.dump(), kYing);
  ASSERT_TRUE(world_.SyncAll().ok());
  ReviewQueries review(&world_.server());
  RecordQuery pending;
  pending.photos_pending = true;
  auto before = review.List(city_, pending);
  ASSERT_TRUE(before.has_value()) << before.error().ToString();
  EXPECT_EQ(Ids(*before), std::set<std::string>{id});
  EXPECT_EQ(before->rows[0].photos_pending, 1);
  EXPECT_EQ(review.Get(city_, id)->row.photos_pending, 1);
  EXPECT_EQ(review.Get(city_, ids_[1])->row.photos_pending, 0);

  // The photo arrives: nothing is pending any more.
  testing::StringSource source(photo);
  ASSERT_TRUE(AttachmentStore(&world_.server()).Put(source, {}).has_value());
  EXPECT_EQ(review.List(city_, pending)->total, 0);
  EXPECT_EQ(review.Get(city_, id)->row.photos_pending, 0);

  // A new photo the server does not have is pending again; an answer that
  // no longer names a file is not.
  world_.Set(0, id, "photo_room", std::string(64, 'c') + ".jpg");
  ASSERT_TRUE(world_.SyncAll().ok());
  EXPECT_EQ(review.List(city_, pending)->total, 1);
  world_.Set(0, id, "photo_room", "");
  ASSERT_TRUE(world_.SyncAll().ok());
  EXPECT_EQ(review.List(city_, pending)->total, 0);
}

// "Keep both" on the shipped toilet form's questions.
class KeepBothTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FormLoadResult r = FormDef::LoadFile(std::string(TIANYE_FORMS_DIR) + "/toilet.json");
    ASSERT_TRUE(r.form) << (r.errors.empty() ? "" : r.errors[0].ToString());
    form_ = r.form;
  }
  static Candidate By(std::optional<std::string> value, uint64_t hlc) {
    Candidate c;
    c.value = std::move(value);
    c.hlc = hlc;
    return c;
  }
  Result<std::string> Keep(std::string_view field, std::vector<Candidate> candidates) {
    const Question* q = QuestionOfField(*form_, field);
    if (q == nullptr) return Status::NotFound("no question for " + std::string(field));
    return KeepBothValue(*q, std::move(candidates));
  }
  std::shared_ptr<const FormDef> form_;
};

TEST_F(KeepBothTest, ChoicesOfASelectMultipleAreJoinedOldestFirstWithoutRepeats) {
  auto v = Keep("not_use_reasons", {By("full frozen", 20), By("frozen no_water", 10)});
  ASSERT_TRUE(v.has_value()) << v.error().ToString();
  EXPECT_EQ(*v, "frozen no_water full");
}

TEST_F(KeepBothTest, NotesWithoutAConstraintAreKeptOnePerLine) {
  auto v = Keep("not_use_other", {By("缺水", 1), By("没人抽粪", 2), By("缺水", 3), By(std::nullopt, 4)});
  ASSERT_TRUE(v.has_value()) << v.error().ToString();
  EXPECT_EQ(*v, "缺水\n没人抽粪");
}

TEST_F(KeepBothTest, FieldsInsideRepeatsAreFoundByTheirQuestion) {
  EXPECT_EQ(QuestionOfField(*form_, "problems[a1]/prob_desc"), form_->Find("prob_desc"));
  EXPECT_EQ(QuestionOfField(*form_, "@status"), nullptr);
  EXPECT_EQ(QuestionOfField(*form_, "no_such_question"), nullptr);
  auto v = Keep("problems[a1]/prob_desc", {By("盖板破损", 1), By("排气管过低", 2)});
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, "盖板破损\n排气管过低");
}

TEST_F(KeepBothTest, ANoteWhoseConstraintTheJoinedTextWouldBreakRefuses) {
  // prob_desc: string-length(.) <= 300.
  auto v = Keep("problems[a1]/prob_desc", {By(std::string(200, 'x'), 1), By(std::string(200, 'y'), 2)});
  ASSERT_FALSE(v.has_value());
  EXPECT_NE(v.error().message().find("keep_both_not_allowed"), std::string::npos);
}

TEST_F(KeepBothTest, OneValueQuestionsRefuse) {
  for (const char* field : {"hh_no", "tank_volume", "toilet_type", "survey_date", "photo_room"}) {
    auto v = Keep(field, {By("1", 1), By("2", 2)});
    ASSERT_FALSE(v.has_value()) << field;
    EXPECT_EQ(v.error().code(), StatusCode::kInvalidArgument) << field;
    EXPECT_NE(v.error().message().find("keep_both_not_allowed"), std::string::npos) << field;
  }
}

}  // namespace
}  // namespace tianye
