//! The quantizer's life cycle (see `quant` for the rule): training when due, with two verified
//! passes over the vector file (train, then encode) so that the memory used is that of the
//! codes; the codes of a new quantizer, with routing signatures when `routing` asks for them.

use super::engine::{Engine, WriterState};
use super::meta;
use super::txn::Changes;
use crate::error::Result;
use crate::graph::StoreWrite;
use crate::options::{DbOptions, Routing};
use crate::quant::{self, Codes, ScalarQuantizer};

impl Engine {
    /// Trains the quantizer once `quant::TRAIN_MIN` graph nodes exist, and retrains it when
    /// their number doubled since (up to `quant::RETRAIN_MAX`) or the data drifted out of the
    /// trained range (see `quant`). The parameters are committed (`meta/sq8`), then the codes
    /// of every graph node are computed from the vector file and installed at once.
    pub(super) fn maybe_train_codes(&self, w: &mut WriterState) -> Result<()> {
        let Some(bits) = quant::bits_of(self.opts.quantization) else { return Ok(()) };
        if self.memory.code_per == 0 {
            return Ok(());
        }
        let graph_nodes = {
            let st = self.read_state();
            let n = st.live - st.twins.values().map(|t| t.len()).sum::<usize>();
            let fits = self.memory.codes_fit(n + n / 4);
            let due = fits
                && match &st.codes {
                    None => n >= quant::TRAIN_MIN,
                    Some(c) => (n >= 2 * c.trained_on && c.trained_on < quant::RETRAIN_MAX) || c.drifted(),
                };
            if !due {
                return Ok(());
            }
            n
        };
        // Two verified passes over the vector file (train, then encode), so that the memory
        // used is that of the codes, not of the vectors.
        let mut items = self.graph_records();
        let mut trainer = quant::Trainer::new(self.opts.dim, bits, items.len());
        self.vectors.read_verified(&mut items, |_, v| trainer.add(v))?;
        let sq = trainer.finish();
        self.commit(
            w,
            Changes {
                writes: vec![StoreWrite::Meta(meta::quantizer_key(bits), sq.encode_params())],
                ..Default::default()
            },
        )?;
        let mut codes = new_codes(&self.opts, sq, graph_nodes);
        self.vectors.read_verified(&mut items, |id, v| codes.set(id, v))?;
        codes.reset_drift();
        self.log(&format!("quantizer trained on {graph_nodes} vectors"));
        self.write_state().codes = Some(codes);
        Ok(())
    }

    /// (slot, checksum, internal id) of every live graph node.
    fn graph_records(&self) -> Vec<(u32, u32, u32)> {
        let st = self.read_state();
        (0..st.nodes.len() as u32)
            .filter_map(|id| st.live_slot(id).and_then(|_| st.node(id)).map(|n| (n.slot, n.checksum, id)))
            .collect()
    }
}

/// Empty codes for quantizer `sq` under `opts` (with routing signatures if `opts.routing` asks
/// for them).
pub(super) fn new_codes(opts: &DbOptions, sq: ScalarQuantizer, trained_on: usize) -> Codes {
    let codes = Codes::new(sq, opts.metric, trained_on);
    match opts.routing {
        Routing::Exact => codes,
        Routing::Probabilistic => codes.with_router(opts.routing_epsilon),
    }
}
