//go:build race

package main_test

// raceEnabled: the test binary was built with -race, so the binary the
// tests build is too, reusing the packages already compiled that way.
const raceEnabled = true
