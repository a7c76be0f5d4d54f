//! What a recorded graph holds: the forward pass of a 784-512-256-10 MLP (ReLU,
//! cross-entropy) at batch 256 in f32, measured two ways — the buffers the nodes
//! saved for their rules (`inspect::graph_memory`, comparable to the tensors
//! PyTorch's autograd saves) and the heap bytes still allocated while the loss is
//! alive beyond what the same forward under `no_grad` leaves (everything recording
//! costs: saved buffers, nodes, rules' closures). `bench/torch_saved_tensors.py`
//! measures PyTorch's side; docs/PERFORMANCE.md has both.
//!
//! Run: `cargo run --release -p tapegrad --example graph_memory`

use rand::SeedableRng;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use tensor_core::functional::{Reduction, cross_entropy};
use tensor_core::{Parameter, Result, Tensor, inspect, no_grad};

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call forwards to `System` with the caller's own layout and pointer;
// the counter is only arithmetic on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract, which we pass on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const MIB: f64 = 1024.0 * 1024.0;

fn main() -> Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let sizes = [784, 512, 256, 10];
    let layers: Vec<(Parameter<f32>, Parameter<f32>)> = sizes
        .windows(2)
        .map(|io| -> Result<_> {
            let w = Tensor::rand_normal(&[io[0], io[1]], 0.0, 0.05, &mut rng)?;
            let b = Tensor::rand_normal(&[io[1]], 0.0, 0.05, &mut rng)?;
            Ok((Parameter::new("w", &w), Parameter::new("b", &b)))
        })
        .collect::<Result<_>>()?;
    let x = Tensor::<f32>::rand_normal(&[256, 784], 0.0, 1.0, &mut rng)?;
    let labels: Vec<usize> = (0..256).map(|i| i % 10).collect();
    let forward = || -> Result<Tensor<f32>> {
        let mut h = x.clone();
        for (i, (w, b)) in layers.iter().enumerate() {
            h = h.linear(&w.tensor(), &b.tensor())?;
            if i + 1 < layers.len() {
                h = h.relu();
            }
        }
        cross_entropy(&h, &labels, Reduction::Mean)
    };
    // One forward first, so lazily built state (thread pools, kernel buffers) is not
    // counted against either side.
    drop(forward()?);
    let base = ALLOCATED.load(Ordering::Relaxed);
    let plain = no_grad(forward)?;
    let unrecorded = ALLOCATED.load(Ordering::Relaxed) as i64 - base as i64;
    drop(plain);
    let base = ALLOCATED.load(Ordering::Relaxed);
    let loss = forward()?;
    let recorded = ALLOCATED.load(Ordering::Relaxed) as i64 - base as i64;
    let m = inspect::graph_memory(&loss);
    println!("784-512-256-10, batch 256, f32: one recorded forward");
    println!("  nodes:                              {}", m.nodes);
    println!(
        "  saved for rules:                    {:.2} MiB in {} buffers ({:.2} MiB of it parameters and the input batch's leaves)",
        m.saved_bytes as f64 / MIB,
        m.saved_buffers,
        m.leaf_bytes as f64 / MIB
    );
    println!("  heap held by the graph:             {:.2} MiB", (recorded - unrecorded) as f64 / MIB);
    loss.backward()?;
    let m = inspect::graph_memory(&loss);
    println!("  saved after backward (released):   {} bytes", m.saved_bytes);
    assert_eq!(m.saved_bytes, 0, "backward without keep_graph releases every saved buffer");
    Ok(())
}
