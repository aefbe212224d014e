// Package docs holds no code: its tests hold README.md and the pages under
// docs/ to the tree they describe. Every `make` target they name is a
// target of the Makefile, every admin command one of the tool's, every
// `go run ./…` package and every repository path or test function named in
// backticks exists, every relative link (and its #anchor) resolves, every
// page of docs/ is linked from the README, and the README stays a door,
// not the house: at most 16 KB.
package docs
