//go:build race

package coordinator

// raceEnabled reports whether the test binary was built with -race.
const raceEnabled = true
