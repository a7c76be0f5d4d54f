//! The performance paths agree with the plain ones: fused `linear` equals
//! `matmul` + `add`, the fused cross-entropy equals `logsumexp − gather`, and large
//! elementwise ops and reductions (which run on rayon) give bit-identical results
//! for 1, 2, 3 and 4 threads.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tensor_core::functional::{Reduction, cross_entropy};
use tensor_core::{BackwardOptions, Error, Indices, Tensor};

fn close(a: &Tensor<f64>, b: &Tensor<f64>) -> bool {
    a.shape() == b.shape() && a.as_slice().iter().zip(b.as_slice()).all(|(x, y)| (x - y).abs() <= 1e-12)
}

#[test]
fn linear_matches_matmul_plus_bias_in_value_and_gradients() {
    let mut rng = StdRng::seed_from_u64(11);
    let x = Tensor::<f64>::rand_normal(&[2, 3, 5], 0.0, 1.0, &mut rng).unwrap().requires_grad();
    let w = Tensor::<f64>::rand_normal(&[5, 4], 0.0, 1.0, &mut rng).unwrap().requires_grad();
    let b = Tensor::<f64>::rand_normal(&[4], 0.0, 1.0, &mut rng).unwrap().requires_grad();
    let fused = x.linear(&w, &b).unwrap();
    let plain = x.matmul(&w).unwrap().add(&b).unwrap();
    assert!(close(&fused, &plain));
    let keep = || BackwardOptions { keep_graph: true, ..Default::default() };
    let gf = fused.tanh().sum_all().backward_with(keep()).unwrap();
    let gp = plain.tanh().sum_all().backward().unwrap();
    for t in [&x, &w, &b] {
        assert!(close(gf.wrt(t).unwrap(), gp.wrt(t).unwrap()));
    }
}

#[test]
fn linear_on_a_constant_input_gives_parameter_gradients_only() {
    let x = Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2]).unwrap();
    let w = Tensor::<f64>::from_vec(vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0], &[2, 3]).unwrap().requires_grad();
    let b = Tensor::<f64>::from_vec(vec![0.5, 0.5, 0.5], &[3]).unwrap().requires_grad();
    let y = x.linear(&w, &b).unwrap();
    // x·W = 1·[1, 0, 0] + 2·[1, 1, 1] = [3, 2, 2]; plus 0.5.
    assert_eq!(y.to_vec(), vec![3.5, 2.5, 2.5]);
    let g = y.sum_all().backward().unwrap();
    // d/dW Σ(x·W + b) = xᵀ·1 = [[1, 1, 1], [2, 2, 2]]; d/db = 1.
    assert_eq!(g.wrt(&w).unwrap().to_vec(), vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
    assert_eq!(g.wrt(&b).unwrap().to_vec(), vec![1.0; 3]);
}

#[test]
fn linear_shape_errors_name_the_op() {
    let x = Tensor::<f64>::ones(&[2, 3]).unwrap();
    let w = Tensor::<f64>::ones(&[3, 4]).unwrap();
    for (x, w, b) in [
        (&x, &w, Tensor::ones(&[3]).unwrap()),
        (&x, &Tensor::ones(&[4, 4]).unwrap(), Tensor::ones(&[4]).unwrap()),
        (&Tensor::scalar(1.0), &w, Tensor::ones(&[4]).unwrap()),
        (&x, &Tensor::ones(&[3]).unwrap(), Tensor::ones(&[4]).unwrap()),
    ] {
        assert!(matches!(x.linear(w, &b), Err(Error::ShapeMismatch { op: "linear", .. })));
    }
}

#[test]
fn fused_cross_entropy_matches_the_composite_form() {
    let mut rng = StdRng::seed_from_u64(12);
    let z = Tensor::<f64>::rand_normal(&[6, 5], 0.0, 3.0, &mut rng).unwrap().requires_grad();
    let labels = [0, 4, 2, 2, 1, 3];
    let fused = cross_entropy(&z, &labels, Reduction::Mean).unwrap();
    let index = Indices::new(labels.to_vec(), &[6, 1]).unwrap();
    let composite =
        z.logsumexp(1, false).unwrap().sub(&z.gather(1, &index).unwrap().reshape(&[6]).unwrap()).unwrap();
    let composite = composite.mean_all().unwrap();
    assert!((fused.item().unwrap() - composite.item().unwrap()).abs() < 1e-12);
    let gf = fused.backward_with(BackwardOptions { keep_graph: true, ..Default::default() }).unwrap();
    let gc = composite.backward().unwrap();
    assert!(close(gf.wrt(&z).unwrap(), gc.wrt(&z).unwrap()));
}

fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

#[test]
fn large_kernels_give_the_same_bits_for_one_to_four_threads() {
    let mut rng = StdRng::seed_from_u64(13);
    let a = Tensor::<f32>::rand_normal(&[400, 700], 0.0, 1.0, &mut rng).unwrap();
    let b = Tensor::<f32>::rand_normal(&[400, 700], 0.0, 1.0, &mut rng).unwrap();
    let row = Tensor::<f32>::rand_normal(&[700], 0.0, 1.0, &mut rng).unwrap();
    let wide = Tensor::<f32>::rand_normal(&[64, 700], 0.0, 1.0, &mut rng).unwrap();
    let narrow = Tensor::<f32>::rand_normal(&[40, 700], 0.0, 1.0, &mut rng).unwrap();
    let tall = Tensor::<f32>::rand_normal(&[700, 400], 0.0, 1.0, &mut rng).unwrap();
    // The products of `train --dataset digits --hidden 1000,64 --batch-size 100`: 100
    // rows is no multiple of a per-thread block, which is where thread counts differed.
    let x = Tensor::<f32>::rand_normal(&[100, 64], 0.0, 1.0, &mut rng).unwrap();
    let w1 = Tensor::<f32>::rand_normal(&[1000, 64], 0.0, 1.0, &mut rng).unwrap();
    let h = Tensor::<f32>::rand_normal(&[100, 1000], 0.0, 1.0, &mut rng).unwrap();
    let w2 = Tensor::<f32>::rand_normal(&[64, 1000], 0.0, 1.0, &mut rng).unwrap();
    let run = || {
        vec![
            a.mul(&b).unwrap(),
            a.add(&row).unwrap(),
            a.exp(),
            a.sum_all(),
            a.sum(0, false).unwrap(),
            a.sum(1, false).unwrap(),
            a.max(1, false).unwrap(),
            a.logsumexp(0, false).unwrap(),
            // Output cut by rows (m ≥ n) on 2 threads, and by columns (m < n), with
            // each operand transposed once: every element must keep its k order.
            a.matmul_t(&b, false, true).unwrap(),
            wide.matmul(&tall).unwrap(),
            a.matmul_t(&b, true, false).unwrap(),
            wide.matmul_t(&a, false, true).unwrap().linear(&a, &row).unwrap(),
            narrow.matmul(&tall).unwrap(),
            narrow.matmul(&a.t().unwrap()).unwrap(),
            x.matmul_t(&w1, false, true).unwrap(),
            h.matmul_t(&w2, false, true).unwrap(),
            h.matmul_t(&x, true, false).unwrap(),
            h.matmul(&w1).unwrap(),
        ]
    };
    let one = in_pool(1, run);
    for threads in 2..=4 {
        let many = in_pool(threads, run);
        for (i, (x, y)) in one.iter().zip(&many).enumerate() {
            assert_eq!(x.shape(), y.shape());
            let differ =
                x.as_slice().iter().zip(y.as_slice()).filter(|(p, q)| p.to_bits() != q.to_bits()).count();
            assert_eq!(differ, 0, "result {i} differs between 1 and {threads} threads in {differ} elements");
        }
    }
}
