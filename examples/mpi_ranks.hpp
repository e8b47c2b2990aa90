// The MPI the command-line examples use under mpirun or srun: this process's rank, and the collectives they need
// (one report's text or one list of numbers from every rank to rank 0 or to every rank, and one flag from rank 0 to
// every rank).
#pragma once

#include <mpi.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

class MpiRanks {
 public:
  MpiRanks(int& argc, char**& argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &m_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &m_size);
  }
  MpiRanks(const MpiRanks&) = delete;
  MpiRanks& operator=(const MpiRanks&) = delete;
  ~MpiRanks() { MPI_Finalize(); }

  int rank() const { return m_rank; }
  int size() const { return m_size; }

  /// Every rank's `mine`, in rank order, on rank 0 (an empty list elsewhere). Each text must stay below 2 GiB,
  /// and so must their sum (MPI counts are ints); a report of thousands of heads is tens of megabytes.
  std::vector<std::string> gather(const std::string& mine) const {
    if (mine.size() > INT_MAX) throw std::length_error("a rank's report exceeds 2 GiB, MPI's message limit");
    const int length = static_cast<int>(mine.size());
    std::vector<int> lengths(m_rank == 0 ? static_cast<std::size_t>(m_size) : 0);
    MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
    std::vector<int> offsets(lengths.size());
    long long total = 0;
    for (std::size_t r = 0; r < lengths.size(); ++r) {
      offsets[r] = static_cast<int>(total);
      total += lengths[r];
      if (total > INT_MAX) throw std::length_error("the ranks' reports together exceed 2 GiB, MPI's message limit");
    }
    std::string all(static_cast<std::size_t>(total), '\0');
    MPI_Gatherv(mine.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR, 0, MPI_COMM_WORLD);
    std::vector<std::string> texts;
    for (std::size_t r = 0; r < lengths.size(); ++r) {
      texts.push_back(all.substr(static_cast<std::size_t>(offsets[r]), static_cast<std::size_t>(lengths[r])));
    }
    return texts;
  }

  /// Every rank's numbers, in rank order, on rank 0 (an empty list elsewhere); they travel as bytes, so they
  /// arrive bit for bit.
  std::vector<std::vector<double>> gather(const std::vector<double>& mine) const {
    std::string bytes(mine.size() * sizeof(double), '\0');
    if (!mine.empty()) std::memcpy(bytes.data(), mine.data(), bytes.size());
    std::vector<std::vector<double>> all;
    for (const std::string& text : gather(bytes)) {
      std::vector<double>& values = all.emplace_back(text.size() / sizeof(double));
      if (!values.empty()) std::memcpy(values.data(), text.data(), text.size());
    }
    return all;
  }

  /// Every rank's numbers, in rank order, on every rank, bit for bit. Each list stays below 2 GiB in all.
  std::vector<std::vector<double>> all_gather(const std::vector<double>& mine) const {
    if (mine.size() > INT_MAX / sizeof(double)) throw std::length_error("a rank's numbers exceed 2 GiB");
    const int count = static_cast<int>(mine.size());
    std::vector<int> counts(static_cast<std::size_t>(m_size)), offsets(counts.size());
    MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
    long long total = 0;
    for (std::size_t r = 0; r < counts.size(); ++r) {
      offsets[r] = static_cast<int>(total);
      total += counts[r];
      if (total > INT_MAX) throw std::length_error("the ranks' numbers together exceed MPI's message limit");
    }
    std::vector<double> all(static_cast<std::size_t>(total));
    MPI_Allgatherv(mine.data(), count, MPI_DOUBLE, all.data(), counts.data(), offsets.data(), MPI_DOUBLE,
                   MPI_COMM_WORLD);
    std::vector<std::vector<double>> lists;
    for (std::size_t r = 0; r < counts.size(); ++r) {
      lists.emplace_back(all.begin() + offsets[r], all.begin() + offsets[r] + counts[r]);
    }
    return lists;
  }

  /// Ends every rank of the job now, with `status`: what a rank does when it fails in the middle of work the others
  /// wait on.
  [[noreturn]] void abort(int status) const {
    MPI_Abort(MPI_COMM_WORLD, status);
    std::exit(status);
  }

  /// Rank 0's `value`, on every rank.
  bool broadcast(bool value) const {
    int flag = value ? 1 : 0;
    MPI_Bcast(&flag, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return flag != 0;
  }

 private:
  int m_rank = 0, m_size = 1;
};
