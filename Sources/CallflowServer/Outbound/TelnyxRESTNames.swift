import TelnyxREST

// The retry rules and Telnyx's error body live in TelnyxREST, so that the CLI's account client
// (TelnyxAPI) shares them without depending on the server. These names keep every file of the
// server, and every user of this library, reading them as `RetryPolicy`, `CommandFailure` and
// `TelnyxError` without importing TelnyxREST itself.
public typealias RetryPolicy = TelnyxREST.RetryPolicy
public typealias CommandFailure = TelnyxREST.CommandFailure
public typealias TelnyxError = TelnyxREST.TelnyxError
