// attnspec: read-only views of tensors a host application owns (a framework's activations, a memory-mapped
// checkpoint), in any of the element types models are stored in. A view never copies; matrix() converts the
// part asked for, once, into the Eigen precision the analysis runs in.
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "detail/checks.hpp"

namespace attnspec {

static_assert(sizeof(Eigen::half) == 2 && sizeof(Eigen::bfloat16) == 2, "16-bit element types must be 2 bytes");

enum class ElementType { float16, bfloat16, float32, float64 };

inline std::size_t element_size(ElementType type) {
  switch (type) {
    case ElementType::float16:
    case ElementType::bfloat16:
      return 2;
    case ElementType::float32:
      return 4;
    case ElementType::float64:
      return 8;
  }
  detail::throw_invalid_argument("element_size", "unknown element type ", static_cast<int>(type));
}

inline const char* element_name(ElementType type) {
  switch (type) {
    case ElementType::float16:
      return "float16";
    case ElementType::bfloat16:
      return "bfloat16";
    case ElementType::float32:
      return "float32";
    case ElementType::float64:
      return "float64";
  }
  return "unknown";
}

/// The ElementType of a C++ element type: float, double, Eigen::half or Eigen::bfloat16.
template <class T>
constexpr ElementType element_type_of() {
  if constexpr (std::is_same_v<T, float>) {
    return ElementType::float32;
  } else if constexpr (std::is_same_v<T, double>) {
    return ElementType::float64;
  } else if constexpr (std::is_same_v<T, Eigen::half>) {
    return ElementType::float16;
  } else {
    static_assert(std::is_same_v<T, Eigen::bfloat16>, "elements must be float, double, Eigen::half or Eigen::bfloat16");
    return ElementType::bfloat16;
  }
}

/// "[a, b, c]", for error messages.
inline std::string shape_text(const std::vector<Eigen::Index>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

namespace detail {

/// The product of a shape's non-zero extents, saturated at `limit + 1`. It bounds the element count and every
/// row-major stride alike: a zero extent makes the count 0 but leaves the strides as large as the other extents
/// make them, so a reader that checked only the count would let the strides overflow.
inline std::uint64_t nonzero_extent_product(const std::vector<Eigen::Index>& shape, std::uint64_t limit) {
  std::uint64_t product = 1;
  for (const Eigen::Index extent : shape) {
    if (extent <= 0) continue;
    const auto factor = static_cast<std::uint64_t>(extent);
    if (product > limit / factor) return limit + 1;
    product *= factor;
  }
  return product;
}
// One element at `address` as Scalar. memcpy, because a file-backed view may be unaligned for its type.
template <class Scalar>
Scalar load_element(const unsigned char* address, ElementType type) {
  switch (type) {
    case ElementType::float16: {
      std::uint16_t bits;
      std::memcpy(&bits, address, 2);
      return static_cast<Scalar>(static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(bits)));
    }
    case ElementType::bfloat16: {
      std::uint16_t bits;
      std::memcpy(&bits, address, 2);
      return static_cast<Scalar>(static_cast<float>(Eigen::numext::bit_cast<Eigen::bfloat16>(bits)));
    }
    case ElementType::float32: {
      float value;
      std::memcpy(&value, address, 4);
      return static_cast<Scalar>(value);
    }
    case ElementType::float64: {
      double value;
      std::memcpy(&value, address, 8);
      return static_cast<Scalar>(value);
    }
  }
  return Scalar(0);
}
}  // namespace detail

/// A strided, read-only view of an N-dimensional host tensor. Strides count elements (as in PyTorch), default
/// row-major (C order). The caller keeps the memory alive and guarantees every addressed element lies in it.
class TensorView {
 public:
  TensorView() = default;

  TensorView(const void* data, ElementType type, std::vector<Eigen::Index> shape,
             std::vector<Eigen::Index> strides = {}, std::string name = "tensor")
      : m_data(static_cast<const unsigned char*>(data)),
        m_type(type),
        m_shape(std::move(shape)),
        m_strides(std::move(strides)),
        m_name(std::move(name)) {
    constexpr const char* function = "TensorView";
    element_size(type);  // rejects values outside the enum
    // The shape first: the default strides are products of its extents.
    for (const Eigen::Index extent : m_shape) {
      if (extent < 0) detail::throw_invalid_argument(function, m_name, ": negative extent ", extent);
    }
    constexpr std::uint64_t max_span = std::uint64_t{1} << 62;
    if (detail::nonzero_extent_product(m_shape, max_span) > max_span) {
      detail::throw_invalid_argument(function, m_name, ": shape ", shape_text(), " spans more than 2^62 elements");
    }
    if (m_strides.empty()) m_strides = row_major_strides(m_shape);
    if (m_strides.size() != m_shape.size()) {
      detail::throw_invalid_argument(function, m_name, ": ", m_shape.size(), " dimensions but ", m_strides.size(),
                                     " strides");
    }
    if (m_data == nullptr && size() > 0) detail::throw_invalid_argument(function, m_name, ": null data");
  }

  template <class T>
  TensorView(const T* data, std::vector<Eigen::Index> shape, std::vector<Eigen::Index> strides = {},
             std::string name = "tensor")
      : TensorView(static_cast<const void*>(data), element_type_of<T>(), std::move(shape), std::move(strides),
                   std::move(name)) {}

  static std::vector<Eigen::Index> row_major_strides(const std::vector<Eigen::Index>& shape) {
    std::vector<Eigen::Index> strides(shape.size(), 1);
    for (std::size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
    return strides;
  }

  ElementType type() const { return m_type; }
  const std::string& name() const { return m_name; }
  const std::vector<Eigen::Index>& shape() const { return m_shape; }
  const std::vector<Eigen::Index>& strides() const { return m_strides; }
  Eigen::Index rank() const { return static_cast<Eigen::Index>(m_shape.size()); }
  Eigen::Index size() const {
    return std::accumulate(m_shape.begin(), m_shape.end(), Eigen::Index{1}, std::multiplies<>());
  }
  std::string shape_text() const { return attnspec::shape_text(m_shape); }

  /// The view with dimension `axis` fixed at `index`, one rank lower (PyTorch's tensor.select(axis, index)): for a
  /// [batch, heads, seq, d] tensor, select(0, b) is sequence b's [heads, seq, d].
  TensorView select(Eigen::Index axis, Eigen::Index index) const {
    if (axis < 0 || axis >= rank()) {
      detail::throw_invalid_argument("TensorView::select", m_name, " has shape ", shape_text(), ": no axis ", axis);
    }
    const auto at = static_cast<std::size_t>(axis);
    if (index < 0 || index >= m_shape[at]) {
      detail::throw_invalid_argument("TensorView::select", m_name, " has shape ", shape_text(), ": index ", index,
                                     " is out of range [0, ", m_shape[at], ") on axis ", axis);
    }
    std::vector<Eigen::Index> shape = m_shape, strides = m_strides;
    shape.erase(shape.begin() + axis);
    strides.erase(strides.begin() + axis);
    const Eigen::Index offset = index * m_strides[at] * static_cast<Eigen::Index>(element_size(m_type));
    return TensorView(m_data + offset, m_type, std::move(shape), std::move(strides),
                      m_name + "[" + std::to_string(axis) + "=" + std::to_string(index) + "]");
  }

  /// The element `offset` elements (not bytes) from the start, as Scalar.
  template <class Scalar>
  Scalar element(Eigen::Index offset) const {
    return detail::load_element<Scalar>(m_data + offset * static_cast<Eigen::Index>(element_size(m_type)), m_type);
  }

  /// A rank-2 tensor as a rows×cols matrix, or a rank-1 tensor as a column; converted to Scalar.
  template <class Scalar>
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> matrix() const {
    if (rank() != 1 && rank() != 2) {
      detail::throw_invalid_argument("TensorView::matrix", m_name, " has shape ", shape_text(),
                                     "; a matrix needs 1 or 2 dimensions");
    }
    const Eigen::Index rows = m_shape[0], cols = rank() == 2 ? m_shape[1] : 1;
    const Eigen::Index col_stride = rank() == 2 ? m_strides[1] : 0;
    return strided_block<Scalar>(0, rows, m_strides[0], cols, col_stride);
  }

  /// rows×cols elements starting at element `offset`, element (i, j) at offset + i·row_stride + j·col_stride.
  template <class Scalar>
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> strided_block(Eigen::Index offset, Eigen::Index rows,
                                                                      Eigen::Index row_stride, Eigen::Index cols,
                                                                      Eigen::Index col_stride) const {
    Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> out(rows, cols);
    for (Eigen::Index i = 0; i < rows; ++i) {
      for (Eigen::Index j = 0; j < cols; ++j) {
        const Eigen::Index at = offset + i * row_stride + j * col_stride;
        out(i, j) = element<Scalar>(at);
        if (!std::isfinite(out(i, j))) throw_not_finite(at, std::is_same_v<Scalar, float> ? "float" : "double");
      }
    }
    return out;
  }

 private:
  // NaN, ±Inf or a value too large for the analysis precision, named by its index in the tensor as stored
  // (unravelled with the strides, which holds for every dense layout and for select() views of one).
  [[noreturn]] void throw_not_finite(Eigen::Index offset, const char* precision) const {
    std::string index;
    for (std::size_t axis = 0; axis < m_shape.size(); ++axis) {
      const Eigen::Index stride = m_strides[axis] == 0 ? 1 : m_strides[axis];
      index += (axis ? ", " : "") + std::to_string(m_shape[axis] == 0 ? 0 : (offset / stride) % m_shape[axis]);
    }
    const double stored = element<double>(offset);
    if (std::isfinite(stored)) {
      detail::throw_invalid_argument("TensorView", m_name, "[", index, "] = ", stored, " overflows ", precision,
                                     " (shape ", shape_text(), ")");
    }
    detail::throw_invalid_argument("TensorView", m_name, "[", index, "] = ", stored, " is not finite (shape ",
                                   shape_text(), ")");
  }

  const unsigned char* m_data = nullptr;
  ElementType m_type = ElementType::float32;
  std::vector<Eigen::Index> m_shape, m_strides;
  std::string m_name = "tensor";
};

/// How per-head activations are laid out: [heads, seq, d] (PyTorch after the head transpose), or [seq, heads, d]
/// and its flattening [seq, heads·d] (the output of a q/k projection). A batched tensor ([batch, heads, seq, d] or
/// [batch, seq, heads·d]) gives one sequence's view with TensorView::select(0, b).
enum class HeadLayout { heads_seq_dim, seq_heads_dim };

/// Per-head queries or keys inside one activation tensor. head(h) and heads(first, count) copy and convert only
/// that head or group, so a model's activations are never converted all at once.
class HeadActivations {
 public:
  HeadActivations(TensorView tensor, HeadLayout layout, Eigen::Index heads) : m_tensor(std::move(tensor)) {
    constexpr const char* function = "HeadActivations";
    const auto& shape = m_tensor.shape();
    const auto& strides = m_tensor.strides();
    const std::string expected =
        layout == HeadLayout::heads_seq_dim ? "[heads, seq, d]" : "[seq, heads, d] or [seq, heads*d]";
    if (heads <= 0) detail::throw_invalid_argument(function, "heads = ", heads, " must be positive");
    if (m_tensor.rank() == 3) {
      const std::size_t head_axis = layout == HeadLayout::heads_seq_dim ? 0 : 1, seq_axis = 1 - head_axis;
      m_heads = shape[head_axis];
      m_seq = shape[seq_axis];
      m_dim = shape[2];
      m_head_stride = strides[head_axis];
      m_seq_stride = strides[seq_axis];
      m_dim_stride = strides[2];
    } else if (layout == HeadLayout::seq_heads_dim && m_tensor.rank() == 2) {
      if (shape[1] % heads != 0) {
        detail::throw_invalid_argument(function, m_tensor.name(), " has shape ", m_tensor.shape_text(), ": ", heads,
                                       " heads do not divide its ", shape[1], " columns");
      }
      m_seq = shape[0];
      m_heads = heads;
      m_dim = shape[1] / heads;
      m_seq_stride = strides[0];
      m_dim_stride = strides[1];
      m_head_stride = m_dim * strides[1];
    } else {
      detail::throw_invalid_argument(function, m_tensor.name(), " has shape ", m_tensor.shape_text(),
                                     " but the layout is ", expected);
    }
    if (m_heads != heads) {
      detail::throw_invalid_argument(function, m_tensor.name(), " has shape ", m_tensor.shape_text(), " (layout ",
                                     expected, "), which holds ", m_heads, " heads, not ", heads);
    }
    if (m_seq == 0 || m_dim == 0) {
      detail::throw_invalid_argument(function, m_tensor.name(), " has shape ", m_tensor.shape_text(),
                                     ": no tokens or d = 0");
    }
  }

  Eigen::Index heads() const { return m_heads; }
  Eigen::Index seq() const { return m_seq; }
  Eigen::Index head_dim() const { return m_dim; }
  const TensorView& tensor() const { return m_tensor; }

  /// Head h as a seq×d matrix.
  template <class Scalar>
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> head(Eigen::Index h) const {
    return heads<Scalar>(h, 1);
  }

  /// Heads first..first+count−1 stacked vertically, (count·seq)×d: a grouped-query KV group's queries.
  template <class Scalar>
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> heads(Eigen::Index first, Eigen::Index count) const {
    if (first < 0 || count <= 0 || first + count > m_heads) {
      detail::throw_invalid_argument("HeadActivations::heads", m_tensor.name(), ": heads [", first, ", ", first + count,
                                     ") are not within the ", m_heads, " heads");
    }
    Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> out(count * m_seq, m_dim);
    for (Eigen::Index g = 0; g < count; ++g) {
      out.middleRows(g * m_seq, m_seq) =
          m_tensor.strided_block<Scalar>((first + g) * m_head_stride, m_seq, m_seq_stride, m_dim, m_dim_stride);
    }
    return out;
  }

 private:
  TensorView m_tensor;
  Eigen::Index m_heads = 0, m_seq = 0, m_dim = 0;
  Eigen::Index m_head_stride = 0, m_seq_stride = 0, m_dim_stride = 0;
};

}  // namespace attnspec
