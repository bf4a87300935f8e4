extension Duration {
    /// The duration in seconds, as a `Double` (for logs, metrics and rates).
    var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}
