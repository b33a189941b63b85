// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title PauseClock
/// @notice The tournament clock of protocol v2: wall-clock time minus every second the
///         tournament spent paused, so it stops while paused. Deadlines measured on it (the
///         challenge window, resultsTimeout, settleTimeout) pass only after that many unpaused
///         seconds: a pause delays outcomes and never changes them.
/// @dev `T(t) = t - pausedBefore(t)`. Each pause is recorded as an interval
///      (start, end, pausedBefore(start)); `pausedBefore(t)` for any wall time `t` is a binary
///      search over them. The current tournament time needs only the one packed slot
///      (`pausedTotal`, `pausedSince`), which keeps `phase()` cheap on the settlement path.
///      A pause still running counts as lasting until the wall time asked about, so for a
///      future `t` the answer assumes nothing changes after now.
library PauseClock {
    struct Interval {
        uint64 start; // wall time the pause began
        uint64 end; // wall time it ended; 0 while it runs
        uint64 pausedBefore; // paused seconds before `start`
    }

    struct Data {
        uint64 pausedTotal; // paused seconds of every finished pause
        uint64 pausedSince; // start of the running pause; 0 while running
        Interval[] intervals;
    }

    /// @dev Starts a pause now (the caller guarantees the tournament was running).
    function pause(Data storage self) internal {
        uint64 nowWall = SafeCast.toUint64(block.timestamp);
        self.intervals.push(Interval({start: nowWall, end: 0, pausedBefore: self.pausedTotal}));
        self.pausedSince = nowWall;
    }

    /// @dev Ends the running pause now (the caller guarantees it is paused).
    function unpause(Data storage self) internal {
        uint64 nowWall = SafeCast.toUint64(block.timestamp);
        uint64 start = self.pausedSince;
        self.intervals[self.intervals.length - 1].end = nowWall;
        self.pausedTotal += nowWall - start;
        self.pausedSince = 0;
    }

    /// @dev The current tournament time: frozen at the pause's start while paused.
    function now_(Data storage self) internal view returns (uint256) {
        uint256 since = self.pausedSince;
        uint256 total = self.pausedTotal;
        return (since != 0 ? since : block.timestamp) - total;
    }

    /// @dev The tournament time at wall time `t`: `t` minus the paused seconds before `t`.
    function at(Data storage self, uint256 t) internal view returns (uint256) {
        Interval[] storage intervals = self.intervals;
        uint256 n = intervals.length;
        if (n == 0) return t;
        // Usual case first: `t` after the start of the latest pause.
        Interval memory last = intervals[n - 1];
        if (t >= last.start) return _at(last, t);
        if (t < intervals[0].start) return t;
        // Binary search: the last interval starting at or before t, in [0, n - 2].
        uint256 low = 0;
        uint256 high = n - 2;
        while (low < high) {
            uint256 mid = (low + high + 1) / 2;
            if (intervals[mid].start <= t) low = mid;
            else high = mid - 1;
        }
        return _at(intervals[low], t);
    }

    function _at(Interval memory interval, uint256 t) private pure returns (uint256) {
        uint256 end = interval.end == 0 || t < interval.end ? t : interval.end;
        return t - (uint256(interval.pausedBefore) + (end - interval.start));
    }
}
