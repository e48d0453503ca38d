package e2e
{
    /**
     * The AS Error object amfast sends as a NetConnection fault (alias "Error"):
     * AMFNetConnection tells faults from results only by this class (errorClass).
     */
    public class NcError
    {
        public var errorId:Number;
        public var name:String;
        public var message:String;
    }
}
