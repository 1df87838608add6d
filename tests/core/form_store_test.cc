#include "tianye/form_store.h"

#include <gtest/gtest.h>

#include "store_testing.h"
#include "test_util.h"
#include "tianye/form_session.h"

namespace tianye {
namespace {

TEST(FormStoreTest, InstallsAShippedFormWithItsListsAndLoadsItBack) {
  testing::TempDir dir;
  std::string path = dir.File("s.db");
  {
    auto store = testing::OpenOrFail(path);
    FormStore forms(store.get());
    auto installed = forms.InstallFile(std::string(TIANYE_FORMS_DIR) + "/toilet.json");
    ASSERT_TRUE(installed.has_value()) << installed.error().ToString();
    EXPECT_EQ(installed->form_id, "toilet");
    EXPECT_EQ(installed->title.at("zh"), "农村户厕改造摸排整改");
    // Installing the same content again is fine.
    EXPECT_TRUE(forms.InstallFile(std::string(TIANYE_FORMS_DIR) + "/toilet.json").has_value());
  }
  // A fresh Store (no cache, no files beside it) can still fill the form in.
  auto store = testing::OpenOrFail(path);
  FormStore forms(store.get());
  auto list = forms.List();
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), 1u);
  auto form = forms.Latest("toilet");
  ASSERT_TRUE(form.has_value()) << form.error().ToString();
  auto session = FormSession::Open(*form, "", {});
  ASSERT_TRUE(session.has_value());
  ASSERT_TRUE((*session)->SetAnswer("county", "140623").has_value());
  ASSERT_TRUE((*session)->SetAnswer("town", "140623100").has_value());
  auto villages = (*session)->Choices("village");
  ASSERT_TRUE(villages.has_value());
  EXPECT_FALSE(villages->empty());  // from villages.csv, stored with the form
  EXPECT_EQ(forms.Latest("nope").error().code(), StatusCode::kNotFound);
}

TEST(FormStoreTest, VersionsAreNeverReusedAndBrokenFormsAreRefused) {
  testing::TempDir dir;
  auto store = testing::OpenOrFail(dir.File("s.db"));
  FormStore forms(store.get());
  const std::string v1 = R"({"settings": {"form_id": "f", "version": "1"},
                            "survey": [{"type": "text", "name": "a"}]})";
  ASSERT_TRUE(forms.Install(v1, {}).has_value());
  const std::string changed = R"({"settings": {"form_id": "f", "version": "1"},
                                 "survey": [{"type": "integer", "name": "a"}]})";
  EXPECT_EQ(forms.Install(changed, {}).error().code(), StatusCode::kAlreadyExists);
  const std::string v2 = R"({"settings": {"form_id": "f", "version": "2"},
                            "survey": [{"type": "integer", "name": "a"}]})";
  ASSERT_TRUE(forms.Install(v2, {}).has_value());
  EXPECT_EQ((*forms.Latest("f"))->version(), "2");
  EXPECT_EQ((*forms.Load("f", "1"))->Find("a")->type, QuestionType::kText);  // old records keep theirs
  auto bad = forms.Install(R"({"settings": {"form_id": "g", "version": "1"},
                              "survey": [{"type": "txet", "name": "a"}]})", {});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.error().message().find("unknown type 'txet'"), std::string::npos);
  EXPECT_EQ(forms.List()->size(), 2u);
}

}  // namespace
}  // namespace tianye
