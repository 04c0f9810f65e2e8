//! `summary()`: Keras's `model.summary()` table, plus multiply-adds and activation memory.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::graph::{SummaryRow, compile};
use super::spec::ModelSpec;
use crate::error::Result;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub name: String,
    pub input: [usize; 3],
    pub rows: Vec<SummaryRow>,
    pub total_params: usize,
    pub trainable_params: usize,
    /// Forward multiply-adds for one image.
    pub total_macs: u64,
    /// Floats of every layer's output for one image.
    pub total_activations: usize,
}

impl ModelSpec {
    pub fn summary(&self) -> Result<Summary> {
        let g = compile(self)?;
        Ok(Summary {
            name: self.name.clone(),
            input: self.input,
            total_params: g.param_len + g.buffer_len,
            trainable_params: g.param_len,
            total_macs: g.rows.iter().map(|r| r.macs).sum(),
            total_activations: g.rows.iter().map(|r| r.activations).sum(),
            rows: g.rows,
        })
    }
}

fn shape(s: &[usize]) -> String {
    let dims: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    format!("({})", dims.join(", "))
}

/// 1234567 → "1,234,567".
pub fn thousands(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Model: \"{}\"  input {}", self.name, shape(&self.input))?;
        let line = "─".repeat(86);
        writeln!(f, "{line}")?;
        writeln!(
            f,
            "{:<28} {:<16} {:>12} {:>12} {:>14}",
            "Layer (type)", "Output shape", "Param #", "Mult-adds", "Activations"
        )?;
        writeln!(f, "{line}")?;
        for r in &self.rows {
            writeln!(
                f,
                "{:<28} {:<16} {:>12} {:>12} {:>14}",
                format!("{} ({})", r.name, r.kind),
                shape(&r.output_shape),
                thousands(r.params as u64),
                thousands(r.macs),
                thousands(r.activations as u64),
            )?;
        }
        writeln!(f, "{line}")?;
        writeln!(f, "Total params: {}", thousands(self.total_params as u64))?;
        writeln!(
            f,
            "Trainable params: {}",
            thousands(self.trainable_params as u64)
        )?;
        writeln!(f, "Multiply-adds per image: {}", thousands(self.total_macs))?;
        write!(
            f,
            "Activations per image: {} floats",
            thousands(self.total_activations as u64)
        )
    }
}
