extension GPTNeoConfig {
    /// FLOPs to train on one token (forward and backward) with `sequenceLength`
    /// tokens of context: 6N for the weights plus 12·L·d·T for attention (the
    /// PaLM paper's estimate, as nanoGPT uses), N = every parameter. Credit is
    /// counted in these units.
    public func trainingFLOPsPerToken(sequenceLength: Int) -> Double {
        6 * Double(ParameterLayout(config: self).count) + 12 * Double(layers * hidden * sequenceLength)
    }

    /// FLOPs to evaluate one token (forward only): a third of training's.
    public func evaluationFLOPsPerToken(sequenceLength: Int) -> Double {
        trainingFLOPsPerToken(sequenceLength: sequenceLength) / 3
    }
}
