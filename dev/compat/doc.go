// Package compat holds no code: its tests prove the service against the
// clients that real vSphere users run, driving the service as `make run`
// serves it (app.LocalHandler) over HTTPS on loopback, over a real engine.
//
// govmomi's REST client (github.com/vmware/govmomi/vapi/rest) is the one
// that Terraform's vSphere provider, Packer and the Kubernetes vSphere
// components log in with; it speaks only the legacy /rest surface.
package compat
