// The registry's API is in terms of the coin model (OwnerChangeRecord, Coin, WalletRegistration) and takes a `Logger`
// everywhere: re-export both, as PostgresNIO re-exports `Logger`, so callers need import only RegistrationCenter.
@_documentation(visibility: internal) @_exported import DigitalCurrency
@_documentation(visibility: internal) @_exported import struct Logging.Logger
