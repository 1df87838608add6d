# tianye_embed_web(OUT_VAR NAMESPACE ns DIR dir FILES a b ...)
# Generates web_assets.cc in the current binary dir from the files in DIR
# (through EmbedFiles.cmake, re-run when any of them changes) and sets
# OUT_VAR to its path, for adding to a target's sources.
function(tianye_embed_web out_var)
  cmake_parse_arguments(ARG "" "NAMESPACE;DIR" "FILES" ${ARGN})
  set(sources ${ARG_FILES})
  list(TRANSFORM sources PREPEND ${ARG_DIR}/)
  string(REPLACE ";" "|" file_list "${ARG_FILES}")
  set(output ${CMAKE_CURRENT_BINARY_DIR}/web_assets.cc)
  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND} -DOUTPUT=${output} -DBASE=${ARG_DIR} -DFILES=${file_list}
            -DNAMESPACE=${ARG_NAMESPACE} -P ${PROJECT_SOURCE_DIR}/cmake/EmbedFiles.cmake
    DEPENDS ${sources} ${PROJECT_SOURCE_DIR}/cmake/EmbedFiles.cmake
    COMMENT "Embedding ${ARG_DIR}"
    VERBATIM)
  set(${out_var} ${output} PARENT_SCOPE)
endfunction()
