# The dashboard page (dashboard.html) compiled into goro_http: wrapped at
# configure time in a raw string literal that dashboard.cpp includes.
# Editing the page re-runs the configure step (CMAKE_CONFIGURE_DEPENDS).
set(_dashboard_html ${CMAKE_CURRENT_LIST_DIR}/dashboard.html)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_dashboard_html})
file(READ ${_dashboard_html} _dashboard_page)
string(FIND "${_dashboard_page}" ")goro_dashboard\"" _dashboard_clash)
if(NOT _dashboard_clash EQUAL -1)
  message(FATAL_ERROR "dashboard.html contains the raw string's delimiter )goro_dashboard\"")
endif()
# file(CONFIGURE) rewrites the file only when its content changed.
file(CONFIGURE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/dashboard/dashboard_html.inc
     CONTENT "R\"goro_dashboard(@_dashboard_page@)goro_dashboard\"\n" @ONLY)
target_sources(goro_http PRIVATE ${CMAKE_CURRENT_LIST_DIR}/dashboard.cpp)
target_include_directories(goro_http PRIVATE ${CMAKE_CURRENT_BINARY_DIR}/dashboard)
