// The GPU products sizing knows: memory, memory bandwidth and dense FP16 tensor throughput, keyed
// by the `nvidia.com/gpu.product` label GPU feature discovery puts on a node (the GPU's name with
// spaces as dashes: "NVIDIA L4" -> NVIDIA-L4), which is what spec.gpu.product names. Figures are
// the vendor's datasheet values. Bandwidth is in GB/s (10^9 bytes); memory is the datasheet's "GB",
// which for these HBM/GDDR parts is a binary size (an 80 GB card has 80 GiB, less what the driver
// keeps: USABLE_MEMORY). FP16 is the dense (no sparsity) tensor core figure. One source per row,
// in the comment above it.

export type GpuProduct = {
  /** The nvidia.com/gpu.product label value. */
  product: string;
  /** Short names `size --gpu` accepts (case-insensitive). */
  aliases: string[];
  memoryGiB: number;
  bandwidthGBps: number;
  fp16TFLOPS: number;
};

export const GPU_PRODUCTS: readonly GpuProduct[] = [
  // NVIDIA T4 Tensor Core GPU datasheet (2019): 16 GB GDDR6, 320+ GB/s, 65 TFLOPS mixed FP16/FP32.
  { product: 'Tesla-T4', aliases: ['T4'], memoryGiB: 16, bandwidthGBps: 320, fp16TFLOPS: 65 },
  // NVIDIA L4 Tensor Core GPU datasheet (2023): 24 GB GDDR6, 300 GB/s, FP16 Tensor 242 TFLOPS with sparsity (121 dense).
  { product: 'NVIDIA-L4', aliases: ['L4'], memoryGiB: 24, bandwidthGBps: 300, fp16TFLOPS: 121 },
  // NVIDIA A10 Tensor Core GPU datasheet (2021): 24 GB GDDR6, 600 GB/s, FP16 Tensor 125 TFLOPS (250 with sparsity).
  { product: 'NVIDIA-A10', aliases: ['A10'], memoryGiB: 24, bandwidthGBps: 600, fp16TFLOPS: 125 },
  // AWS EC2 G5 instance page (A10G, 24 GB per GPU); the A10G is AWS's GA102 A10 variant with the A10's
  // 600 GB/s GDDR6 and a lower clock: FP16 Tensor 70 TFLOPS dense per NVIDIA's A10G product brief.
  { product: 'NVIDIA-A10G', aliases: ['A10G'], memoryGiB: 24, bandwidthGBps: 600, fp16TFLOPS: 70 },
  // NVIDIA A30 Tensor Core GPU datasheet (2021): 24 GB HBM2, 933 GB/s, FP16 Tensor 165 TFLOPS dense.
  { product: 'NVIDIA-A30', aliases: ['A30'], memoryGiB: 24, bandwidthGBps: 933, fp16TFLOPS: 165 },
  // NVIDIA L40 GPU datasheet (2022): 48 GB GDDR6, 864 GB/s, FP16 Tensor 181 TFLOPS dense.
  { product: 'NVIDIA-L40', aliases: ['L40'], memoryGiB: 48, bandwidthGBps: 864, fp16TFLOPS: 181 },
  // NVIDIA L40S GPU datasheet (2023): 48 GB GDDR6, 864 GB/s, FP16 Tensor 733 TFLOPS with sparsity (366 dense).
  { product: 'NVIDIA-L40S', aliases: ['L40S'], memoryGiB: 48, bandwidthGBps: 864, fp16TFLOPS: 366 },
  // NVIDIA V100 Tensor Core GPU datasheet (2020): SXM2 16 GB HBM2, 900 GB/s, 125 TFLOPS tensor.
  { product: 'Tesla-V100-SXM2-16GB', aliases: ['V100'], memoryGiB: 16, bandwidthGBps: 900, fp16TFLOPS: 125 },
  // NVIDIA A100 Tensor Core GPU datasheet (2021), A100 40GB PCIe: 40 GB HBM2, 1,555 GB/s, FP16 Tensor 312 TFLOPS dense.
  { product: 'NVIDIA-A100-PCIE-40GB', aliases: ['A100-40GB-PCIe'], memoryGiB: 40, bandwidthGBps: 1555, fp16TFLOPS: 312 },
  // Same datasheet, A100 40GB SXM: 40 GB HBM2, 1,555 GB/s, 312 TFLOPS.
  { product: 'NVIDIA-A100-SXM4-40GB', aliases: ['A100-40GB', 'A100'], memoryGiB: 40, bandwidthGBps: 1555, fp16TFLOPS: 312 },
  // Same datasheet, A100 80GB PCIe: 80 GB HBM2e, 1,935 GB/s, 312 TFLOPS.
  { product: 'NVIDIA-A100-80GB-PCIe', aliases: ['A100-80GB-PCIe'], memoryGiB: 80, bandwidthGBps: 1935, fp16TFLOPS: 312 },
  // Same datasheet, A100 80GB SXM: 80 GB HBM2e, 2,039 GB/s, 312 TFLOPS.
  { product: 'NVIDIA-A100-SXM4-80GB', aliases: ['A100-80GB'], memoryGiB: 80, bandwidthGBps: 2039, fp16TFLOPS: 312 },
  // NVIDIA H100 Tensor Core GPU datasheet (2023), H100 PCIe: 80 GB, 2 TB/s, FP16 Tensor 1,513 TFLOPS with sparsity (756 dense).
  { product: 'NVIDIA-H100-PCIe', aliases: ['H100-PCIe'], memoryGiB: 80, bandwidthGBps: 2000, fp16TFLOPS: 756 },
  // Same datasheet, H100 SXM: 80 GB HBM3, 3.35 TB/s, FP16 Tensor 1,979 TFLOPS with sparsity (989 dense).
  { product: 'NVIDIA-H100-80GB-HBM3', aliases: ['H100', 'H100-SXM'], memoryGiB: 80, bandwidthGBps: 3350, fp16TFLOPS: 989 },
  // Same datasheet, H100 NVL: 94 GB HBM3, 3.9 TB/s, FP16 Tensor 1,671 TFLOPS with sparsity (835 dense).
  { product: 'NVIDIA-H100-NVL', aliases: ['H100-NVL'], memoryGiB: 94, bandwidthGBps: 3900, fp16TFLOPS: 835 },
  // NVIDIA H200 Tensor Core GPU datasheet (2024), H200 SXM: 141 GB HBM3e, 4.8 TB/s, FP16 Tensor 1,979 TFLOPS with sparsity (989 dense).
  { product: 'NVIDIA-H200', aliases: ['H200'], memoryGiB: 141, bandwidthGBps: 4800, fp16TFLOPS: 989 },
];

/**
 * Share of a GPU's memory a process can allocate: the driver, the CUDA context and fragmentation
 * take the rest (an 80 GB H100 shows ~79.2 GiB total in nvidia-smi and leaves ~78 GiB to a
 * process). Applied to every product, so the estimate errs on the side of "does not fit".
 */
export const USABLE_MEMORY = 0.95;

/** A product by its label value or one of its aliases, case-insensitive. */
export function findGpu(name: string): GpuProduct | undefined {
  const n = name.toLowerCase();
  return GPU_PRODUCTS.find((g) => g.product.toLowerCase() === n || g.aliases.some((a) => a.toLowerCase() === n));
}
