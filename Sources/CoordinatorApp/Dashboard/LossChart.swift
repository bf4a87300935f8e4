import Foundation
import Wire

/// A run's loss curves as inline SVG: training loss as a polyline,
/// validation loss as a polyline with a dot per point, axes labelled with
/// their first/last step and lowest/highest loss, and a legend. Scales to
/// its container's width (`viewBox`, CSS `width: 100%`). Points whose loss
/// is not finite are left out.
struct LossChart {
    /// The drawing's size in SVG units (its aspect ratio on the page) and
    /// the margins around the plot area that hold the axis labels.
    struct Size {
        var width: Double, height: Double
        var left: Double, bottom: Double
        var top = 16.0, right = 16.0
        /// Radius of a point's dot.
        var dot = 4.0
        /// CSS class on the `<svg>` (the style sizes the labels per class).
        var cssClass: String

        /// The home page's chart, beside the verification figures.
        static let compact = Size(width: 640, height: 260, left: 76, bottom: 40, cssClass: "chart")
        /// The run page's chart, the card's full width.
        static let large = Size(width: 960, height: 400, left: 124, bottom: 60, dot: 6, cssClass: "chart chart-big")
    }

    var train: [LossPoint]
    var validation: [LossPoint]
    var size: Size

    init(train: [LossPoint], validation: [LossPoint], size: Size = .compact) {
        self.train = train.filter { $0.loss.isFinite }
        self.validation = validation.filter { $0.loss.isFinite }
        self.size = size
    }

    /// The chart (`<figure>` with the `<svg>` and its legend), or a stated
    /// "no data yet" when neither series has a point.
    func render() -> String {
        guard let scale = Scale(train + validation) else {
            return "<p class=\"empty\" data-field=\"loss-chart-empty\">No loss recorded yet: no data yet.</p>"
        }
        let description = "Training loss (\(train.count) points) and validation loss (\(validation.count) points) by step"
        return "<figure class=\"chart\">"
            + "<svg data-field=\"loss-chart\" class=\"\(size.cssClass)\" viewBox=\"0 0 \(number(size.width)) \(number(size.height))\" "
            + "preserveAspectRatio=\"xMidYMid meet\" role=\"img\" aria-label=\"\(description)\">"
            + "<title>\(description)</title>"
            + axes(scale)
            + series("train", train, scale, dots: train.count == 1)
            + series("validation", validation, scale, dots: true)
            + "</svg>" + legend() + "</figure>"
    }

    // MARK: Parts

    private func axes(_ scale: Scale) -> String {
        let x0 = size.left, x1 = size.width - size.right, y0 = size.height - size.bottom, y1 = size.top
        let lines = "<path class=\"axis\" d=\"M\(number(x0)) \(number(y1))V\(number(y0))H\(number(x1))\"/>"
            + "<path class=\"grid\" d=\"M\(number(x0)) \(number(y1))H\(number(x1))\"/>"
        let below = y0 + size.bottom - 10
        let yLabels = label(Self.tick(scale.maxLoss), x: x0 - 8, y: y1 + 6, anchor: "end", field: "y-max")
            + label(Self.tick(scale.minLoss), x: x0 - 8, y: y0, anchor: "end", field: "y-min")
        let xLabels = label("step \(scale.minStep)", x: x0, y: below, anchor: "start", field: "x-min")
            + label("step \(scale.maxStep)", x: x1, y: below, anchor: "end", field: "x-max")
        return lines + yLabels + xLabels
    }

    /// An axis label's loss: three decimals (short enough for the margin).
    static func tick(_ loss: Double) -> String { DashboardFormat.decimal(loss, places: 3) }

    private func label(_ text: String, x: Double, y: Double, anchor: String, field: String) -> String {
        "<text class=\"tick\" data-field=\"\(field)\" x=\"\(number(x))\" y=\"\(number(y))\" text-anchor=\"\(anchor)\">"
            + "\(HTML.escape(text))</text>"
    }

    /// One series: a polyline through every point (`data-points` says how
    /// many), and a dot per point when `dots`.
    private func series(_ name: String, _ points: [LossPoint], _ scale: Scale, dots: Bool) -> String {
        guard !points.isEmpty else { return "" }
        let xy = points.map { point(of: $0, scale) }
        let list = xy.map { "\(number($0.x)),\(number($0.y))" }.joined(separator: " ")
        var out = "<polyline class=\"\(name)\" data-series=\"\(name)\" data-points=\"\(points.count)\" points=\"\(list)\"/>"
        if dots {
            out += xy.map { "<circle class=\"\(name)\" data-series=\"\(name)-point\" cx=\"\(number($0.x))\" cy=\"\(number($0.y))\" r=\"\(number(size.dot))\"/>" }
                .joined()
        }
        return out
    }

    private func legend() -> String {
        var items = ["<li><span class=\"swatch train\"></span>training loss (\(train.count) steps)</li>"]
        if !validation.isEmpty {
            items.append("<li><span class=\"swatch validation\"></span>validation loss (\(validation.count) evaluations)</li>")
        }
        return "<figcaption><ul class=\"legend\">\(items.joined())</ul></figcaption>"
    }

    // MARK: Geometry

    /// The data's extent: steps on x, loss on y.
    struct Scale {
        var minStep: Int, maxStep: Int
        var minLoss: Double, maxLoss: Double

        init?(_ points: [LossPoint]) {
            guard let first = points.first else { return nil }
            minStep = first.step
            maxStep = first.step
            minLoss = first.loss
            maxLoss = first.loss
            for p in points.dropFirst() {
                minStep = min(minStep, p.step)
                maxStep = max(maxStep, p.step)
                minLoss = min(minLoss, p.loss)
                maxLoss = max(maxLoss, p.loss)
            }
        }
    }

    /// Where a point lies in the plot area (a flat range sits in the middle).
    private func point(of p: LossPoint, _ scale: Scale) -> (x: Double, y: Double) {
        let plotWidth = size.width - size.left - size.right, plotHeight = size.height - size.top - size.bottom
        let steps = Double(scale.maxStep - scale.minStep)
        let losses = scale.maxLoss - scale.minLoss
        let fx = steps > 0 ? Double(p.step - scale.minStep) / steps : 0.5
        let fy = losses > 0 ? (p.loss - scale.minLoss) / losses : 0.5
        return (size.left + fx * plotWidth, size.top + (1 - fy) * plotHeight)
    }

    /// Coordinates with at most one decimal (short markup, plenty precise).
    private func number(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }
}
