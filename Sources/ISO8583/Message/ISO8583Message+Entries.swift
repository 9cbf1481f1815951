extension ISO8583Message {
    /// The entries of the present fields in ascending number order: one allocation, copied on write.
    ///
    /// A non-generic `ManagedBuffer` subclass rather than a `ContiguousArray<Entry>`: allocating one needs no
    /// generic-metadata lookup, and the decoder allocates it once, at its final size, and fills it through a
    /// pointer. A message with no fields allocates nothing.
    ///
    /// Sendable as a value: the storage is mutated only while uniquely referenced (copy on write).
    @usableFromInline
    struct Entries: RandomAccessCollection, @unchecked Sendable {
        @usableFromInline var storage: EntryStorage?

        @inlinable
        init() {
            self.storage = nil
        }

        @inlinable
        init(_ storage: EntryStorage) {
            self.storage = storage
        }

        @inlinable var startIndex: Int { 0 }
        @inlinable var endIndex: Int { self.storage?.count ?? 0 }
        @inlinable var capacity: Int { self.storage?.entryCapacity ?? 0 }

        @inlinable
        subscript(position: Int) -> Entry {
            get {
                precondition(position >= 0 && position < self.endIndex, "entry index out of range")
                return self.storage!.withUnsafeMutablePointerToElements { $0[position] }
            }
            set {
                precondition(position >= 0 && position < self.endIndex, "entry index out of range")
                self.reserve(self.endIndex)
                self.storage!.withUnsafeMutablePointerToElements { $0[position] = newValue }
            }
        }

        /// The index of the entry of field `number`, if present.
        @inlinable
        func index(of number: UInt16) -> Int? {
            guard let storage = self.storage else { return nil }
            // Messages carry a few dozen fields at most: a forward scan beats a binary search here.
            return storage.withUnsafeMutablePointerToElements { elements in
                let count = storage.count
                var i = 0
                while i < count {
                    let n = elements[i].number
                    if n == number { return i }
                    if n > number { return nil }
                    i &+= 1
                }
                return nil
            }
        }

        /// Where an entry for field `number` goes to keep the order.
        @inlinable
        func insertionIndex(of number: UInt16) -> Int {
            var i = self.endIndex
            while i > 0, self[i - 1].number > number { i -= 1 }
            return i
        }

        @inlinable
        func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Entry>) throws -> R) rethrows -> R {
            guard let storage = self.storage else { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
            return try storage.withUnsafeMutablePointerToElements { elements in
                try body(UnsafeBufferPointer(start: elements, count: storage.count))
            }
        }

        @inlinable
        mutating func insert(_ entry: Entry, at position: Int) {
            let count = self.endIndex
            precondition(position >= 0 && position <= count, "entry index out of range")
            self.reserve(count + 1)
            self.storage!.withUnsafeMutablePointerToElements { elements in
                (elements + position + 1).update(from: elements + position, count: count - position)
                elements[position] = entry
            }
            self.storage!.count = count + 1
        }

        @inlinable
        mutating func remove(at position: Int) {
            let count = self.endIndex
            precondition(position >= 0 && position < count, "entry index out of range")
            self.reserve(count)
            self.storage!.withUnsafeMutablePointerToElements { elements in
                (elements + position).update(from: elements + position + 1, count: count - position - 1)
            }
            self.storage!.count = count - 1
        }

        /// Makes the storage unique and able to hold `minimumCapacity` entries.
        @inlinable
        mutating func reserve(_ minimumCapacity: Int) {
            if self.capacity >= minimumCapacity, isKnownUniquelyReferenced(&self.storage) { return }
            self.reallocate(minimumCapacity)
        }

        @usableFromInline
        mutating func reallocate(_ minimumCapacity: Int) {
            let count = self.endIndex
            let old = self.capacity
            let capacity = minimumCapacity > old ? Swift.max(minimumCapacity, 2 * old, 8) : old
            let storage = EntryStorage.make(capacity: capacity)
            if let current = self.storage {
                current.withUnsafeMutablePointerToElements { from in
                    storage.withUnsafeMutablePointerToElements { to in
                        to.initialize(from: from, count: count)
                    }
                }
            }
            storage.count = count
            self.storage = storage
        }
    }
}

/// The memory of ``ISO8583Message/Entries``: a count and a capacity, then the entries.
@usableFromInline
final class EntryStorage: ManagedBuffer<EntryStorage.Header, ISO8583Message.Entry> {
    @usableFromInline
    struct Header {
        @usableFromInline var count: Int
        @usableFromInline var capacity: Int

        @inlinable
        init(count: Int, capacity: Int) {
            self.count = count
            self.capacity = capacity
        }
    }

    /// The number of entries in use, through a pointer to the header: `header` is a stored property of a
    /// class, and every access to it is checked for exclusivity at run time (some 75 instructions each).
    @inlinable
    var count: Int {
        get { self.withUnsafeMutablePointerToHeader { $0.pointee.count } }
        set { self.withUnsafeMutablePointerToHeader { $0.pointee.count = newValue } }
    }

    /// The number of entries there is room for (read through a pointer, as ``count``).
    @inlinable
    var entryCapacity: Int {
        self.withUnsafeMutablePointerToHeader { $0.pointee.capacity }
    }

    /// Empty storage for `capacity` entries.
    @inlinable
    static func make(capacity: Int) -> EntryStorage {
        let buffer = self.create(minimumCapacity: capacity) { _ in Header(count: 0, capacity: capacity) }
        return unsafeDowncast(buffer, to: EntryStorage.self)
    }
}
