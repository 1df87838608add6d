// The server's full-text index over records (the FTS5 table server_search,
// one row per record): the values of its answers and the labels, in every
// language of the form, of the choices they name. Private to the core.
//
// SQLite's unicode61 tokenizer splits on spaces and punctuation, which
// Chinese text has few of; the index therefore stores each CJK character as
// a word of its own, and a search is a phrase query, so Chinese text
// matches anywhere inside an answer (户主1 finds 张户主12), while Latin words
// and numbers match from their start (12 finds 12-3, not 312).
#ifndef TIANYE_CORE_SEARCH_H_
#define TIANYE_CORE_SEARCH_H_

#include <string>
#include <string_view>

#include "sqlite.h"
#include "tianye/form_store.h"
#include "tianye/status.h"

namespace tianye::internal {

// `text` with a space around each CJK character, as the index stores it.
std::string SearchWords(std::string_view text);

// The FTS5 MATCH expression for what a user typed: its words as one phrase,
// the last word a prefix. "" when the text has no word at all (only
// punctuation); the caller then searches another way.
std::string SearchMatch(std::string_view typed);

// Indexes record `record_id` anew from its current answers (labels from
// `forms` when its form version is installed). A record the server does not
// hold is left out.
Status RefreshSearch(Connection& conn, FormStore& forms, const std::string& record_id);

// Indexes every record when the store was upgraded from a schema without
// the index (a one-time job at the server's start); a no-op otherwise.
// Returns how many records were indexed.
Result<int64_t> BuildSearchIndexIfStale(Store& store);

}  // namespace tianye::internal

#endif  // TIANYE_CORE_SEARCH_H_
