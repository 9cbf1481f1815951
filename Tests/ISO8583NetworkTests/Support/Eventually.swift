import Testing

/// Waits until `condition` holds, polling every few milliseconds; records an issue (and returns
/// `false`) if it still does not hold after `seconds`. A correctness deadline, not a timing assertion.
@discardableResult
func eventually(
    within seconds: Double = 10,
    _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () -> Bool
) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + .milliseconds(Int64(seconds * 1000))
    while clock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    if condition() { return true }
    Issue.record("timed out waiting until \(what)", sourceLocation: sourceLocation)
    return false
}
