// Package compat holds no code: its tests prove the service against the
// clients that real vSphere users run, driving the service as `make run`
// serves it (app.LocalHandler) over HTTPS on loopback, over a real engine.
//
// govmomi's REST client (github.com/vmware/govmomi/vapi/rest) speaks only
// the legacy /rest surface. Tools built on govmomi (Terraform's vSphere
// provider, Packer) log in over SOAP at /sdk first, which this service does
// not serve, and open a REST session only afterwards (docs/CLIENTS.md).
package compat
