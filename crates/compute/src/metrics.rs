//! Classification metrics: the confusion matrix with accuracy and per-class / macro-averaged
//! precision, recall and F1 (as scikit-learn with `zero_division=0`), `argmax` over a row of
//! scores, and the [`ShiftMap`] of accuracy by digit offset on the canvas.

use std::fmt::Write as _;

/// Why a confusion matrix update was rejected.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum MetricsError {
    /// A true or predicted class is not below the number of classes.
    #[error("class out of range: truth {truth}, prediction {pred}, but only {classes} classes")]
    ClassOutOfRange {
        truth: usize,
        pred: usize,
        classes: usize,
    },
    /// Two matrices over different numbers of classes cannot be merged.
    #[error("cannot merge confusion matrices of {left} and {right} classes")]
    ClassCountMismatch { left: usize, right: usize },
}

/// Counts of (true class, predicted class) pairs, `classes × classes`, row = truth.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfusionMatrix {
    classes: usize,
    /// `counts[truth * classes + pred]`.
    counts: Vec<u64>,
}

/// Accuracy and macro-averaged precision, recall and F1 of a confusion matrix, each in `[0, 1]`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassificationMetrics {
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// `num / den`, with `0 / 0` (and anything over 0) defined as 0, like `zero_division=0`.
fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

impl ConfusionMatrix {
    /// An all-zero matrix over `classes` classes.
    pub fn new(classes: usize) -> Self {
        Self {
            classes,
            counts: vec![0; classes * classes],
        }
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Counts one example of class `truth` predicted as `pred`.
    ///
    /// Errors with [`MetricsError::ClassOutOfRange`] unless both are below [`Self::classes`].
    pub fn add(&mut self, truth: usize, pred: usize) -> Result<(), MetricsError> {
        let cell = self
            .index(truth, pred)
            .and_then(|i| self.counts.get_mut(i))
            .ok_or(MetricsError::ClassOutOfRange {
                truth,
                pred,
                classes: self.classes,
            })?;
        *cell += 1;
        Ok(())
    }

    /// Adds the counts of `other` (e.g. a matrix from another batch or thread) to this one.
    ///
    /// Errors with [`MetricsError::ClassCountMismatch`] when the class counts differ.
    pub fn merge(&mut self, other: &ConfusionMatrix) -> Result<(), MetricsError> {
        if other.classes != self.classes || other.counts.len() != self.counts.len() {
            return Err(MetricsError::ClassCountMismatch {
                left: self.classes,
                right: other.classes,
            });
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        Ok(())
    }

    /// Examples of class `truth` predicted as `pred` (0 for classes out of range).
    pub fn count(&self, truth: usize, pred: usize) -> u64 {
        self.index(truth, pred)
            .and_then(|i| self.counts.get(i))
            .copied()
            .unwrap_or(0)
    }

    /// Number of examples counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Fraction of examples predicted correctly (0 when empty).
    pub fn accuracy(&self) -> f64 {
        let correct = (0..self.classes).map(|c| self.count(c, c)).sum();
        ratio(correct, self.total())
    }

    /// Of the examples predicted as `class`, the fraction truly of `class` (0 when none).
    pub fn precision(&self, class: usize) -> f64 {
        ratio(self.count(class, class), self.predicted(class))
    }

    /// Of the examples truly of `class`, the fraction predicted as `class` (0 when none).
    pub fn recall(&self, class: usize) -> f64 {
        ratio(self.count(class, class), self.actual(class))
    }

    /// Harmonic mean of precision and recall of `class`, computed as `2TP / (2TP + FP + FN)`
    /// (0 when the class never occurs as truth or prediction).
    pub fn f1(&self, class: usize) -> f64 {
        let tp = self.count(class, class);
        ratio(2 * tp, self.predicted(class) + self.actual(class))
    }

    /// Mean of [`Self::precision`] over the classes that occur as truth or prediction.
    pub fn macro_precision(&self) -> f64 {
        self.macro_mean(|c| self.precision(c))
    }

    /// Mean of [`Self::recall`] over the classes that occur as truth or prediction.
    pub fn macro_recall(&self) -> f64 {
        self.macro_mean(|c| self.recall(c))
    }

    /// Mean of the per-class [`Self::f1`] over the classes that occur as truth or prediction
    /// (scikit-learn's `f1_score(average="macro")`, not the F1 of the macro averages).
    pub fn macro_f1(&self) -> f64 {
        self.macro_mean(|c| self.f1(c))
    }

    /// Accuracy and the three macro averages.
    pub fn summary(&self) -> ClassificationMetrics {
        ClassificationMetrics {
            accuracy: self.accuracy(),
            precision: self.macro_precision(),
            recall: self.macro_recall(),
            f1: self.macro_f1(),
        }
    }

    /// Position of `(truth, pred)` in `counts`, if both are in range.
    fn index(&self, truth: usize, pred: usize) -> Option<usize> {
        (truth < self.classes && pred < self.classes).then(|| truth * self.classes + pred)
    }

    /// Examples predicted as `class` (column sum).
    fn predicted(&self, class: usize) -> u64 {
        (0..self.classes).map(|t| self.count(t, class)).sum()
    }

    /// Examples truly of `class` (row sum).
    fn actual(&self, class: usize) -> u64 {
        (0..self.classes).map(|p| self.count(class, p)).sum()
    }

    /// Mean of `metric` over the classes present as truth or prediction, like scikit-learn's
    /// default `labels=None`; 0 when no class is present.
    fn macro_mean(&self, metric: impl Fn(usize) -> f64) -> f64 {
        let present: Vec<usize> = (0..self.classes)
            .filter(|&c| self.predicted(c) + self.actual(c) > 0)
            .collect();
        if present.is_empty() {
            return 0.0;
        }
        present.iter().map(|&c| metric(c)).sum::<f64>() / present.len() as f64
    }
}

/// Index of the largest value of `row`, the first one on ties. NaN never wins; an empty row or
/// a row of NaN gives 0.
pub fn argmax(row: &[f32]) -> usize {
    let mut best: Option<(usize, f32)> = None;
    for (i, &v) in row.iter().enumerate() {
        if v.is_nan() {
            continue;
        }
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map_or(0, |(i, _)| i)
}

/// Accuracy of a model for each placement of the digits on a grid of offsets of the canvas.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShiftMap {
    /// Canvas side.
    pub canvas: usize,
    /// Grid step in pixels.
    pub step: usize,
    /// Offsets evaluated on each axis: `0, step, 2·step, …` and always `canvas - 28`.
    pub offsets: Vec<usize>,
    /// Accuracy at `(offsets[dx_index], offsets[dy_index])`, row-major `[dy_index][dx_index]`,
    /// `offsets.len()²` values.
    pub accuracy: Vec<f64>,
}

impl ShiftMap {
    /// A map over [`ShiftMap::grid_offsets`]`(canvas, step)` with every accuracy 0.
    pub fn new(canvas: usize, step: usize) -> Self {
        let offsets = Self::grid_offsets(canvas, step);
        let accuracy = vec![0.0; offsets.len() * offsets.len()];
        Self {
            canvas,
            step,
            offsets,
            accuracy,
        }
    }

    /// `0, step, 2·step, …` below `canvas - 28`, then `canvas - 28` itself: `[0, 4, …, 32, 36]`
    /// for (64, 4), `[0, 5, …, 35, 36]` for (64, 5). A step of 0 counts as 1; a canvas of at
    /// most 28 gives `[0]`.
    pub fn grid_offsets(canvas: usize, step: usize) -> Vec<usize> {
        let last = canvas.saturating_sub(crate::data::Dataset::SIDE);
        let mut offsets: Vec<usize> = (0..last).step_by(step.max(1)).collect();
        offsets.push(last);
        offsets
    }

    /// The accuracy at grid position `(dx_index, dy_index)`, if it exists.
    pub fn get(&self, dx_index: usize, dy_index: usize) -> Option<f64> {
        let n = self.offsets.len();
        if dx_index < n && dy_index < n {
            self.accuracy.get(dy_index * n + dx_index).copied()
        } else {
            None
        }
    }

    /// Mean accuracy over the grid (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.accuracy.is_empty() {
            0.0
        } else {
            self.accuracy.iter().sum::<f64>() / self.accuracy.len() as f64
        }
    }

    /// CSV text: a header `dy\dx,0,4,…` with the dx offsets, then one line per dy offset,
    /// `dy,acc,acc,…`, accuracies with 4 decimals (an empty cell where a value is missing).
    pub fn to_csv(&self) -> String {
        let mut csv = String::from("dy\\dx");
        for dx in &self.offsets {
            // Writing to a String cannot fail.
            let _ = write!(csv, ",{dx}");
        }
        csv.push('\n');
        for (yi, dy) in self.offsets.iter().enumerate() {
            let _ = write!(csv, "{dy}");
            for xi in 0..self.offsets.len() {
                csv.push(',');
                if let Some(acc) = self.get(xi, yi) {
                    let _ = write!(csv, "{acc:.4}");
                }
            }
            csv.push('\n');
        }
        csv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 3-class example, rows = truth, columns = prediction:
    ///
    /// ```text
    ///          pred 0  pred 1  pred 2 | row sum
    /// true 0      2       1       0   |   3
    /// true 1      1       3       1   |   5
    /// true 2      0       2       2   |   4
    /// col sum     3       6       3   |  12
    /// ```
    fn example() -> ConfusionMatrix {
        let mut m = ConfusionMatrix::new(3);
        let cells = [[2, 1, 0], [1, 3, 1], [0, 2, 2]];
        for (truth, row) in cells.iter().enumerate() {
            for (pred, &n) in row.iter().enumerate() {
                for _ in 0..n {
                    m.add(truth, pred).unwrap();
                }
            }
        }
        m
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn hand_computed_three_class_precision_recall_f1() {
        let m = example();
        assert_eq!(m.total(), 12);
        assert_eq!(m.count(1, 2), 1);
        // accuracy = (2 + 3 + 2) / 12
        assert!(close(m.accuracy(), 7.0 / 12.0));
        // precision = diagonal / column sum: 2/3, 3/6, 2/3
        assert!(close(m.precision(0), 2.0 / 3.0));
        assert!(close(m.precision(1), 0.5));
        assert!(close(m.precision(2), 2.0 / 3.0));
        // recall = diagonal / row sum: 2/3, 3/5, 2/4
        assert!(close(m.recall(0), 2.0 / 3.0));
        assert!(close(m.recall(1), 0.6));
        assert!(close(m.recall(2), 0.5));
        // F1 = 2TP / (2TP + FP + FN): 4/(4+1+1) = 2/3, 6/(6+3+2) = 6/11, 4/(4+1+2) = 4/7
        assert!(close(m.f1(0), 2.0 / 3.0));
        assert!(close(m.f1(1), 6.0 / 11.0));
        assert!(close(m.f1(2), 4.0 / 7.0));
        // the same as 2PR / (P + R), e.g. class 1: 2·0.5·0.6 / 1.1 = 6/11
        assert!(close(2.0 * 0.5 * 0.6 / 1.1, 6.0 / 11.0));
        // macro P = (2/3 + 1/2 + 2/3) / 3 = 11/18
        assert!(close(m.macro_precision(), 11.0 / 18.0));
        // macro R = (2/3 + 3/5 + 1/2) / 3 = 53/90
        assert!(close(m.macro_recall(), 53.0 / 90.0));
        // macro F1 = (2/3 + 6/11 + 4/7) / 3 = (154 + 126 + 132) / 231 / 3 = 412/693
        assert!(close(m.macro_f1(), 412.0 / 693.0));
        let s = m.summary();
        assert!(close(s.accuracy, 7.0 / 12.0) && close(s.f1, 412.0 / 693.0));
        assert!(close(s.precision, 11.0 / 18.0) && close(s.recall, 53.0 / 90.0));
    }

    #[test]
    fn zero_division_gives_zero_like_sklearn() {
        let empty = ConfusionMatrix::new(3);
        assert_eq!(empty.accuracy(), 0.0);
        assert_eq!(
            empty.summary(),
            ClassificationMetrics {
                accuracy: 0.0,
                precision: 0.0,
                recall: 0.0,
                f1: 0.0
            }
        );
        // Class 2 occurs as truth but is never predicted: precision 0/0 → 0, recall 0/1, F1 0.
        let mut m = ConfusionMatrix::new(3);
        m.add(0, 0).unwrap();
        m.add(1, 1).unwrap();
        m.add(2, 0).unwrap();
        assert_eq!((m.precision(2), m.recall(2), m.f1(2)), (0.0, 0.0, 0.0));
        // macro P = (1/2 + 1 + 0) / 3, macro R = (1 + 1 + 0) / 3
        assert!(close(m.macro_precision(), 0.5));
        assert!(close(m.macro_recall(), 2.0 / 3.0));
        // F1: class 0 = 2/(2+1+0) = 2/3, class 1 = 1, class 2 = 0
        assert!(close(m.macro_f1(), (2.0 / 3.0 + 1.0) / 3.0));
    }

    #[test]
    fn macro_averages_skip_classes_absent_from_truth_and_predictions() {
        let mut m = ConfusionMatrix::new(10);
        m.add(0, 0).unwrap();
        m.add(1, 0).unwrap();
        // Present classes 0 and 1: P = (1/2 + 0) / 2, R = (1 + 0) / 2, F1 = (2/3 + 0) / 2.
        assert!(close(m.macro_precision(), 0.25));
        assert!(close(m.macro_recall(), 0.5));
        assert!(close(m.macro_f1(), 1.0 / 3.0));
    }

    #[test]
    fn out_of_range_classes_are_errors_not_panics() {
        let mut m = ConfusionMatrix::new(3);
        assert_eq!(
            m.add(3, 0),
            Err(MetricsError::ClassOutOfRange {
                truth: 3,
                pred: 0,
                classes: 3
            })
        );
        assert!(m.add(0, 7).is_err());
        assert_eq!(m.total(), 0);
        assert_eq!(
            (m.count(5, 5), m.precision(9), m.recall(9), m.f1(9)),
            (0, 0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn merge_adds_counts_and_rejects_other_class_counts() {
        let mut a = example();
        let mut b = ConfusionMatrix::new(3);
        b.add(2, 2).unwrap();
        b.add(0, 1).unwrap();
        a.merge(&b).unwrap();
        assert_eq!(a.total(), 14);
        assert_eq!(a.count(2, 2), 3);
        assert_eq!(a.count(0, 1), 2);
        assert_eq!(a.count(1, 1), 3);
        assert_eq!(
            a.merge(&ConfusionMatrix::new(4)),
            Err(MetricsError::ClassCountMismatch { left: 3, right: 4 })
        );
        assert_eq!(a.total(), 14);
    }

    #[test]
    fn argmax_picks_the_first_maximum_and_never_nan() {
        assert_eq!(argmax(&[0.1, 0.7, 0.2]), 1);
        assert_eq!(argmax(&[0.5, 0.9, 0.9]), 1);
        assert_eq!(argmax(&[f32::NAN, 0.1, 0.3]), 2);
        assert_eq!(argmax(&[0.4, f32::NAN, 0.3]), 0);
        assert_eq!(argmax(&[-3.0, f32::NAN, -1.0, f32::NEG_INFINITY]), 2);
        assert_eq!(argmax(&[f32::NAN, f32::NAN]), 0);
        assert_eq!(argmax(&[]), 0);
        assert_eq!(argmax(&[f32::NEG_INFINITY, f32::NEG_INFINITY]), 0);
    }

    #[test]
    fn grid_offsets_always_include_the_last_offset() {
        assert_eq!(
            ShiftMap::grid_offsets(64, 4),
            [0, 4, 8, 12, 16, 20, 24, 28, 32, 36]
        );
        assert_eq!(
            ShiftMap::grid_offsets(64, 5),
            [0, 5, 10, 15, 20, 25, 30, 35, 36]
        );
        assert_eq!(ShiftMap::grid_offsets(64, 100), [0, 36]);
        assert_eq!(ShiftMap::grid_offsets(30, 0), [0, 1, 2]);
        assert_eq!(ShiftMap::grid_offsets(28, 4), [0]);
    }

    #[test]
    fn shift_map_csv_has_dx_header_and_one_row_per_dy() {
        let mut map = ShiftMap::new(36, 4);
        assert_eq!(map.offsets, [0, 4, 8]);
        map.accuracy = vec![0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.12345];
        assert_eq!(
            map.to_csv(),
            "dy\\dx,0,4,8\n\
             0,0.9000,0.8000,0.7000\n\
             4,0.6000,0.5000,0.4000\n\
             8,0.3000,0.2000,0.1235\n"
        );
        assert_eq!(map.get(2, 0), Some(0.7));
        assert_eq!(map.get(0, 2), Some(0.3));
        assert_eq!(map.get(3, 0), None);
        assert!(close(map.mean(), 4.52345 / 9.0));
    }
}
