import Kernels

extension Trainer {
    /// One local-steps unit (DiLoCo's inner loop, DESIGN §2): an AdamW step
    /// on each of `steps` batches in turn (`batch(k)`, made when needed, so a
    /// long unit never holds all its batches), from the current parameters
    /// and a fresh optimizer state (`inner.restart`), so the result is a pure
    /// function of the parameter version and the unit's data, whoever
    /// computes it. Afterwards `gradients` holds the pseudo-gradient (start −
    /// end, what the outer optimizer treats as a gradient) and the parameters
    /// are back at their start. `start` is scratch space in the model's
    /// layout. Returns the mean loss over the inner steps (each before its update).
    ///
    /// Shapes: every batch is [batch, seqLen] tokens and targets, as `computeGradients`.
    public func localSteps(_ steps: Int, batch: (Int) throws -> (tokens: [Int32], targets: [Int32]), inner: AdamW,
                           firstScheduleStep: Int, start: FloatBuffer) throws -> Double {
        guard steps > 0 else { throw ModelInputError("a local-steps unit needs at least one batch") }
        let parameters = model.parameters
        start.copy(from: parameters)
        inner.restart(scheduleStep: firstScheduleStep)
        var loss = 0.0
        do {
            for k in 0..<steps {
                let (tokens, targets) = try batch(k)
                loss += try computeGradients(tokens: tokens, targets: targets)
                inner.update(parameters: parameters, gradients: gradients, backend: model.backend)
            }
        } catch {
            parameters.copy(from: start)  // a bad batch leaves the model as it was
            throw error
        }
        let p = parameters.pointer, s = start.pointer, g = gradients.pointer
        for i in 0..<parameters.count {
            g[i] = s[i] - p[i]
            p[i] = s[i]
        }
        return loss / Double(steps)
    }
}
