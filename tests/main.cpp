// main.cpp — doctest's runner for dru_tests (ctest runs each TEST_CASE by name).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
