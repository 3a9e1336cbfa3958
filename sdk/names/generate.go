package names

// The manual lives outside the repository, in the shared reference files
// next to it (../shared from the repository root).
//go:generate go run ./internal/gen -manual ../../../shared/nut-user-manual.txt -fixes internal/gen/upsd-2.8.0.fixes -out zz_generated.go
