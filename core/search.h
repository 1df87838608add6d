// The server's full-text index over records (the table server_search, one
// row per record): the values of its answers and the labels, in every
// language of the form, of the choices they name. Private to the core.
//
// SQLite's unicode61 tokenizer splits on spaces and punctuation, which
// Chinese text has few of; the index therefore stores each CJK character as
// a word of its own, and a search is a phrase query, so Chinese text
// matches anywhere inside an answer (户主1 finds 张户主12), while Latin words
// and numbers match from their start (12 finds 12-3, not 312).
//
// On SQLite the table is FTS5's. PostgreSQL has no tokenizer that splits
// Chinese, so there the row holds the words as this file splits them, one
// space apart (" 张 户 主 12 "), and a search is a LIKE on that text: the
// same matches, read by a scan of the index table (no case folding beyond
// ASCII and no diacritics removed, which FTS5 does for Latin letters).
#ifndef TIANYE_CORE_SEARCH_H_
#define TIANYE_CORE_SEARCH_H_

#include <string>
#include <string_view>
#include <vector>

#include "facts.h"
#include "sqlite.h"
#include "tianye/form_store.h"
#include "tianye/status.h"

namespace tianye::internal {

// `text` with a space around each CJK character, as the index stores it.
std::string SearchWords(std::string_view text);

// What to look up for what a user typed: its words as one phrase, the last
// word a prefix (on SQLite an FTS5 MATCH expression, on PostgreSQL a LIKE
// pattern). "" when the text has no word at all (only punctuation); the
// caller then searches another way.
std::string SearchMatch(Dialect dialect, std::string_view typed);

// The condition that record `r` (an alias of server_records) is among the
// matches of the SearchMatch() bound to parameter `param` ("?3").
std::string SearchCondition(Dialect dialect, const std::string& param);

// Indexes record `record_id` anew from its current answers (labels from
// `forms` when its form version is installed): `answers` when the caller
// holds them, sorted by name as FactField says, else read from
// server_fields. A record the server does not hold is left out.
Status RefreshSearch(Connection& conn, FormStore& forms, const std::string& record_id,
                     const std::vector<FactField>* answers = nullptr);

// Indexes every record when the store was upgraded from a schema without
// the index (a one-time job at the server's start); a no-op otherwise.
// Returns how many records were indexed.
Result<int64_t> BuildSearchIndexIfStale(Store& store);

}  // namespace tianye::internal

#endif  // TIANYE_CORE_SEARCH_H_
