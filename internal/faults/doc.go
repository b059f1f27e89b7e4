// Package faults runs sward's parts the way fault-injection tests and
// network benchmarks need them: a coordinator that can run in a child
// process (so a test can SIGKILL it and start it again on the same data
// directory, identity and port), scraper nodes that keep rejoining it, and
// a reader that lists the documents of a published dataset version.
//
// A test binary that starts children must call ChildMain from TestMain:
//
//	func TestMain(m *testing.M) {
//		if faults.IsChild() {
//			os.Exit(faults.ChildMain())
//		}
//		os.Exit(m.Run())
//	}
package faults
