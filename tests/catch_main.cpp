// The single translation unit that holds Catch2's test runner.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
